/**
 * Children: one task per parent and key, queues behind siblings, and a parent's wait for its children, which each
 * child's end counts in the same write (the last one makes the parent runnable, exactly once).
 */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import type { ChildWaitMode, TaskRecord } from "../../stores/TaskRecord.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

const lease = { owner: "w", expiresAt: 1_000_000 }

/** A running parent `id` and its token. */
const runningParent = (id: string) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    const parent = yield* store.create({ id, name: "parent", input: null, lease })
    return parent.fencingToken
  })

/** A running child of `parentId` and its token. */
/** A child claimed by `lease`; `bounded`: one of a fan-out with a bound, whose end starts a queued sibling. */
const runningChild = (parentId: string, key: string, name = "child", bounded = false) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    const child = yield* store.create({
      id: `${parentId}/${key}`,
      name,
      input: key,
      parentId,
      childKey: key,
      lease,
      bounded
    })
    return child.fencingToken
  })

const status = (id: string) =>
  Effect.flatMap(TaskStore, (store) => Effect.map(store.get(id), (t) => Option.getOrThrow(t)))

/** The parent waits for these children, in `mode`. */
const awaitChildren = (id: string, token: number, children: ReadonlyArray<string>, mode: ChildWaitMode) =>
  Effect.flatMap(TaskStore, (store) => store.finish(id, token, { _tag: "AwaitingChildren", children, mode }))

const complete = (id: string, token: number) =>
  Effect.flatMap(TaskStore, (store) => store.finish(id, token, { _tag: "Completed", output: id }))

const fail = (id: string, token: number) =>
  Effect.flatMap(TaskStore, (store) => store.finish(id, token, { _tag: "Failed", error: { tag: "Boom", message: id } }))

const reasonOf = (task: TaskRecord) => task.suspendReason

export const childrenTests = (test: SuiteTest): void => {
  test(
    "creates one child per parent and key: a second create with the key returns the first, unchanged",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* runningParent("p")
      yield* runningParent("q")
      const first = yield* store.create({ id: "c1", name: "child", input: 1, parentId: "p", childKey: "k" })
      const again = yield* store.create({ id: "c2", name: "other", input: 2, parentId: "p", childKey: "k" })
      assert.deepStrictEqual([again.id, again.name, again.input, again.childKey], ["c1", "child", 1, "k"])
      assert.isTrue(Option.isNone(yield* store.get("c2")), "nothing new recorded")
      // the same key under another parent is another child
      const elsewhere = yield* store.create({ id: "c3", name: "child", input: 1, parentId: "q", childKey: "k" })
      assert.deepStrictEqual([elsewhere.id, elsewhere.parentId, first.parentId], ["c3", "q", "p"])
    })
  )

  test(
    "keeps a queued child suspended until a sibling ends; each end starts the oldest queued child",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* runningParent("p")
      const a = yield* runningChild("p", "a", "child", true)
      for (const key of ["q1", "q2", "q3"]) {
        const queued = yield* store.create({ id: `p/${key}`, name: "child", input: key, parentId: "p", queued: true })
        assert.deepStrictEqual([queued.status, queued.suspendReason], ["suspended", { _tag: "QueuedBehindSiblings" }])
      }
      assert.isTrue(Option.isNone(yield* store.claim("p/q1", lease)), "a queued child is not runnable")
      yield* complete("p/a", a)
      assert.deepStrictEqual([(yield* status("p/q1")).status, (yield* status("p/q2")).status], ["pending", "suspended"])
      // any end counts: a failure, and a cancel of an idle sibling
      const q1 = Option.getOrThrow(yield* store.claim("p/q1", lease)).fencingToken
      yield* fail("p/q1", q1)
      assert.strictEqual((yield* status("p/q2")).status, "pending")
      yield* store.cancelIdle("p/q2")
      assert.strictEqual((yield* status("p/q3")).status, "pending")
    })
  )

  test(
    "starts no queued child at the end of a child of no bounded fan-out (started alone, or without a bound)",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* runningParent("p")
      const alone = yield* runningChild("p", "alone")
      const bounded = yield* runningChild("p", "b", "child", true)
      yield* store.create({ id: "p/q1", name: "child", input: null, parentId: "p", queued: true })
      yield* store.create({ id: "p/q2", name: "child", input: null, parentId: "p", queued: true })
      yield* complete("p/alone", alone)
      assert.strictEqual((yield* status("p/q1")).status, "suspended")
      yield* complete("p/b", bounded)
      assert.deepStrictEqual([(yield* status("p/q1")).status, (yield* status("p/q2")).status], ["pending", "suspended"])
    })
  )

  test(
    "makes a parent waiting with a due time (its deadline) runnable then, and its children's ends no longer count",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      const a = yield* runningChild("p", "a")
      const b = yield* runningChild("p", "b")
      const waiting = yield* store.finish("p", p, {
        _tag: "AwaitingChildren",
        children: ["p/a", "p/b"],
        mode: "all",
        runAt: 5_000
      })
      assert.deepStrictEqual([waiting.status, waiting.runAt], ["suspended", 5_000])
      assert.isTrue(Option.isNone(yield* store.claim("p", lease)), "not before its due time")
      yield* complete("p/a", a)
      assert.strictEqual((yield* status("p")).status, "suspended", "one of two ended")
      yield* TestClock.adjust(5_000)
      const claimed = Option.getOrThrow(yield* store.claim("p", lease))
      yield* complete("p/b", b)
      const after = yield* status("p")
      assert.deepStrictEqual([after.status, after.fencingToken], ["running", claimed.fencingToken])
      // and a later wait of the same parent counts afresh
      const c = yield* runningChild("p", "c")
      yield* awaitChildren("p", claimed.fencingToken, ["p/c"], "all")
      yield* complete("p/c", c)
      assert.strictEqual((yield* status("p")).status, "pending")
    })
  )

  test(
    "starts no queued child of a parent that has ended",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      const a = yield* runningChild("p", "a", "child", true)
      yield* store.create({ id: "p/q", name: "child", input: null, parentId: "p", queued: true })
      yield* store.finish("p", p, { _tag: "Cancelled" })
      yield* complete("p/a", a)
      assert.strictEqual((yield* status("p/q")).status, "suspended")
    })
  )

  test(
    "makes a parent waiting for its children runnable when the last ends, exactly once, at the same attempt",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      const tokens = [yield* runningChild("p", "a"), yield* runningChild("p", "b"), yield* runningChild("p", "c")]
      const waiting = yield* awaitChildren("p", p, ["p/a", "p/b", "p/c"], "settled")
      assert.strictEqual(waiting.status, "suspended")
      assert.deepStrictEqual(reasonOf(waiting), { _tag: "WaitingForChildren", mode: "settled", total: 3, remaining: 3 })
      assert.isTrue(Option.isNone(yield* store.claim("p", lease)), "not runnable while it waits")
      yield* fail("p/a", tokens[0] as number)
      assert.deepStrictEqual(reasonOf(yield* status("p")), {
        _tag: "WaitingForChildren",
        mode: "settled",
        total: 3,
        remaining: 2
      })
      yield* complete("p/b", tokens[1] as number)
      assert.strictEqual((yield* status("p")).status, "suspended")
      yield* complete("p/c", tokens[2] as number)
      const woken = yield* status("p")
      assert.deepStrictEqual([woken.status, woken.attempt, woken.suspendReason], ["pending", 1, undefined])
      const claimed = Option.getOrThrow(yield* store.claim("p", lease))
      assert.strictEqual(claimed.status, "running")
      // a later end of another child of it changes nothing
      const late = yield* runningChild("p", "late")
      yield* complete("p/late", late)
      assert.strictEqual((yield* status("p")).status, "running")
    })
  )

  test(
    "counts a wait over the children it names, and keeps the join's `total` when the runtime left out ended ones",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      const [a, b] = [yield* runningChild("p", "a"), yield* runningChild("p", "b")]
      yield* complete("p/a", a)
      // the join named a, b and a child that ended before it looked; it waits for b alone
      const waiting = yield* store.finish("p", p, {
        _tag: "AwaitingChildren",
        children: ["p/b"],
        mode: "all",
        total: 3
      })
      assert.deepStrictEqual(reasonOf(waiting), { _tag: "WaitingForChildren", mode: "all", total: 3, remaining: 1 })
      yield* complete("p/b", b)
      assert.strictEqual((yield* status("p")).status, "pending")
    })
  )

  test(
    "ends an `all` wait at the first child that does not complete, and a `first` wait at the first that does",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      const [a, b] = [yield* runningChild("p", "a"), yield* runningChild("p", "b")]
      yield* awaitChildren("p", p, ["p/a", "p/b"], "all")
      yield* complete("p/a", a)
      assert.strictEqual((yield* status("p")).status, "suspended")
      yield* fail("p/b", b)
      assert.strictEqual((yield* status("p")).status, "pending")

      const q = yield* runningParent("q")
      const [x, y] = [yield* runningChild("q", "x"), yield* runningChild("q", "y")]
      yield* awaitChildren("q", q, ["q/x", "q/y"], "first")
      yield* fail("q/x", x)
      assert.strictEqual((yield* status("q")).status, "suspended", "a failure does not end a `first` wait")
      yield* complete("q/y", y)
      assert.strictEqual((yield* status("q")).status, "pending")

      // every child failed: a `first` wait ends with the last of them
      const r = yield* runningParent("r")
      const [m, n] = [yield* runningChild("r", "m"), yield* runningChild("r", "n")]
      yield* awaitChildren("r", r, ["r/m", "r/n"], "first")
      yield* fail("r/m", m)
      yield* store.finish("r/n", n, { _tag: "Cancelled" })
      assert.strictEqual((yield* status("r")).status, "pending")
    })
  )

  test(
    "leaves a parent runnable at once when its wait is over before it starts",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const cases: ReadonlyArray<readonly [string, ChildWaitMode, "complete" | "fail"]> = [
        ["settled", "settled", "complete"],
        ["all", "all", "fail"],
        ["first", "first", "complete"]
      ]
      for (const [id, mode, end] of cases) {
        const p = yield* runningParent(id)
        const ended = yield* runningChild(id, "ended")
        const running = yield* runningChild(id, "running")
        yield* end === "complete" ? complete(`${id}/ended`, ended) : fail(`${id}/ended`, ended)
        const children = mode === "settled" ? [`${id}/ended`] : [`${id}/ended`, `${id}/running`]
        const after = yield* awaitChildren(id, p, children, mode)
        assert.strictEqual(after.status, "pending", mode)
        assert.isTrue(Option.isSome(yield* store.claim(id, lease)), mode)
        assert.isDefined(running)
      }
    })
  )

  test(
    "counts a child that ends idle (cancelIdle) or by a claim that carries out a cancel asked of it",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      yield* store.create({ id: "p/idle", name: "child", input: null, parentId: "p", childKey: "idle" })
      // held by a runtime whose lease has run out (it died)
      const dead = { owner: "dead", expiresAt: -1 }
      yield* store.create({ id: "p/asked", name: "child", input: null, parentId: "p", childKey: "asked", lease: dead })
      yield* awaitChildren("p", p, ["p/idle", "p/asked"], "settled")
      yield* store.cancelIdle("p/idle")
      assert.strictEqual((yield* status("p")).status, "suspended")
      // its cancel was asked, and a claim after its lease records it cancelled
      yield* store.requestCancel("p/asked")
      assert.isTrue(Option.isNone(yield* store.claim("p/asked", lease)))
      assert.strictEqual((yield* status("p/asked")).status, "cancelled")
      assert.strictEqual((yield* status("p")).status, "pending")
    })
  )

  test(
    "wakes a parent only with the children of its wait: a sibling outside it changes nothing",
    Effect.gen(function* () {
      const p = yield* runningParent("p")
      const inside = yield* runningChild("p", "inside")
      const outside = yield* runningChild("p", "outside")
      yield* awaitChildren("p", p, ["p/inside"], "settled")
      yield* complete("p/outside", outside)
      assert.deepStrictEqual(reasonOf(yield* status("p")), {
        _tag: "WaitingForChildren",
        mode: "settled",
        total: 1,
        remaining: 1
      })
      yield* complete("p/inside", inside)
      assert.strictEqual((yield* status("p")).status, "pending")
    })
  )

  test(
    "refuses a stale parent's wait with LeaseLost; a cancel asked of a parent turns its wait into cancelled",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const p = yield* runningParent("p")
      yield* runningChild("p", "a")
      const stale = yield* Effect.flip(awaitChildren("p", p + 1_000, ["p/a"], "all"))
      assert.strictEqual(stale._tag, "LeaseLost")
      assert.strictEqual((yield* status("p")).status, "running")
      yield* store.requestCancel("p")
      const cancelled = yield* awaitChildren("p", p, ["p/a"], "all")
      assert.strictEqual(cancelled.status, "cancelled")
    })
  )

  test(
    "wakes the parent exactly once when its 20 children end at once, whatever the order of the writes",
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (let round = 0; round < 5; round++) {
        const id = `p${round}`
        const p = yield* runningParent(id)
        const keys = Array.from({ length: 20 }, (_, i) => `c${i}`)
        const tokens = yield* Effect.forEach(keys, (key) => runningChild(id, key))
        // the parent's wait and its children's ends go at once: some children end before the wait is recorded
        const ends = keys.map((key, i) =>
          i % 2 === 0 ? complete(`${id}/${key}`, tokens[i] as number) : fail(`${id}/${key}`, tokens[i] as number)
        )
        yield* Effect.all(
          [
            awaitChildren(
              id,
              p,
              keys.map((key) => `${id}/${key}`),
              "settled"
            ),
            ...ends
          ],
          { concurrency: "unbounded" }
        )
        const after = yield* status(id)
        assert.strictEqual(after.status, "pending", `round ${round}: the wait ended`)
        assert.isTrue(Option.isSome(yield* store.claim(id, lease)), `round ${round}`)
        assert.isTrue(Option.isNone(yield* store.claim(id, lease)), `round ${round}: claimed once`)
      }
    })
  )

  test(
    "claims with claimChild a runnable child of that parent among these names, and nothing else",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* runningParent("p")
      yield* runningParent("q")
      const a = yield* runningChild("p", "a", "child", true)
      yield* store.create({ id: "p/q1", name: "child", input: null, parentId: "p", queued: true })
      yield* store.create({ id: "p/q2", name: "other", input: null, parentId: "p", queued: true })
      yield* store.create({ id: "q/x", name: "child", input: null, parentId: "q" })
      assert.isTrue(Option.isNone(yield* store.claimChild("p", ["child"], lease)), "nothing released yet")
      yield* complete("p/a", a)
      const claimed = Option.getOrThrow(yield* store.claimChild("p", ["child"], lease))
      assert.deepStrictEqual([claimed.id, claimed.status, claimed.leaseOwner], ["p/q1", "running", "w"])
      yield* complete("p/q1", claimed.fencingToken)
      assert.strictEqual((yield* status("p/q2")).status, "pending", "released")
      assert.isTrue(Option.isNone(yield* store.claimChild("p", ["child"], lease)), "not of these names")
      assert.strictEqual(Option.getOrThrow(yield* store.claimChild("p", ["other"], lease)).id, "p/q2")
    })
  )
}
