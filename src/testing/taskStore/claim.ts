/**
 * Claims and leases: when a task is runnable (due times, suspensions, wakes, expired leases, maxParallel), and tasks
 * handed back or cancelled while idle.
 */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import { TaskStore } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

export const claimTests = (test: SuiteTest): void => {
  test(
    "claims a pending task once, with a growing fencing token",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "a", name: "job", input: null })
      yield* store.create({ id: "b", name: "job", input: null })
      const first = yield* store.claim("a", { owner: "w1", expiresAt: 10_000 })
      assert.isTrue(Option.isSome(first))
      const again = yield* store.claim("a", { owner: "w2", expiresAt: 10_000 })
      assert.isTrue(Option.isNone(again), "a running task cannot be claimed")
      const second = yield* store.claim("b", { owner: "w1", expiresAt: 10_000 })
      if (Option.isNone(first) || Option.isNone(second)) return assert.fail("claims failed")
      assert.strictEqual(first.value.status, "running")
      assert.strictEqual(first.value.leaseOwner, "w1")
      assert.isTrue(second.value.fencingToken > first.value.fencingToken)
    })
  )

  test(
    "does not claim a task before its runAt",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "later", name: "job", input: null, runAt: 5_000 })
      assert.isTrue(Option.isNone(yield* store.claim("later", { owner: "w", expiresAt: 1 })))
      yield* TestClock.adjust(5_000)
      assert.isTrue(Option.isSome(yield* store.claim("later", { owner: "w", expiresAt: 1 })))
    })
  )

  test(
    "makes a suspended task claimable again once its runAt has passed",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "p", name: "job", input: null })
      const claimed = Option.getOrThrow(yield* store.claim("p", { owner: "w", expiresAt: 1 }))
      yield* store.finish("p", claimed.fencingToken, {
        _tag: "Suspended",
        reason: { _tag: "Paused", until: 1_000 },
        runAt: 1_000
      })
      assert.isTrue(Option.isNone(yield* store.claim("p", { owner: "w", expiresAt: 1 })))
      yield* TestClock.adjust(1_000)
      const again = yield* store.claim("p", { owner: "w", expiresAt: 1 })
      assert.isTrue(Option.isSome(again))
      if (Option.isSome(again)) assert.strictEqual(again.value.suspendReason, undefined)
    })
  )

  test(
    "hands back the running tasks of one owner as pending at the same attempt",
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (const id of ["mine-1", "mine-2", "theirs", "idle"]) yield* store.create({ id, name: "job", input: null })
      yield* store.claim("mine-1", { owner: "me", expiresAt: 99 })
      yield* store.claim("mine-2", { owner: "me", expiresAt: 99 })
      yield* store.claim("theirs", { owner: "other", expiresAt: 99 })
      const recovered = yield* store.recoverOwned("me")
      assert.deepStrictEqual(recovered.map((t) => t.id).sort(), ["mine-1", "mine-2"])
      const mine = Option.getOrThrow(yield* store.get("mine-1"))
      assert.deepStrictEqual([mine.status, mine.attempt, mine.leaseOwner], ["pending", 1, undefined])
      assert.strictEqual(Option.getOrThrow(yield* store.get("theirs")).status, "running")
      assert.strictEqual(Option.getOrThrow(yield* store.get("idle")).status, "pending")
    })
  )

  test(
    "wakes a suspended task only",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "s", name: "job", input: null })
      yield* store.create({ id: "p", name: "job", input: null, runAt: 10_000 })
      const claimed = Option.getOrThrow(yield* store.claim("s", { owner: "w", expiresAt: 1 }))
      yield* store.finish("s", claimed.fencingToken, {
        _tag: "Suspended",
        reason: { _tag: "WaitingForSignal", signal: "go", until: 50_000 },
        runAt: 50_000
      })
      yield* TestClock.adjust(100)
      yield* store.wake("s")
      yield* store.wake("p")
      assert.strictEqual(Option.getOrThrow(yield* store.get("s")).runAt, 100)
      assert.strictEqual(Option.getOrThrow(yield* store.get("p")).runAt, 10_000, "a pending task is left alone")
      assert.isTrue(Option.isSome(yield* store.claim("s", { owner: "w", expiresAt: 1 })))
    })
  )

  test(
    "keeps a task suspended without runAt (paused, waiting for a signal) until it is woken",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "w", name: "job", input: null })
      yield* store.create({ id: "idle", name: "job", input: null })
      const claimed = Option.getOrThrow(yield* store.claim("w", { owner: "o", expiresAt: 1 }))
      yield* store.finish("w", claimed.fencingToken, {
        _tag: "Suspended",
        reason: { _tag: "WaitingForSignal", signal: "go" }
      })
      assert.isTrue(Option.isNone(yield* store.claim("w", { owner: "o", expiresAt: 1 })))
      const paused = Option.getOrThrow(yield* store.suspendIdle("idle", { _tag: "Paused" }))
      assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused" }])
      assert.isTrue(Option.isNone(yield* store.claim("idle", { owner: "o", expiresAt: 1 })))
      assert.isTrue(Option.isNone(yield* store.suspendIdle("w-missing", { _tag: "Paused" })))
      yield* store.wake("w")
      yield* store.wake("idle")
      assert.isTrue(Option.isSome(yield* store.claim("w", { owner: "o", expiresAt: 1 })))
      assert.isTrue(Option.isSome(yield* store.claim("idle", { owner: "o", expiresAt: 1 })))
      assert.isTrue(Option.isNone(yield* store.suspendIdle("idle", { _tag: "Paused" })), "running: not idle")
    })
  )

  test(
    "lets another owner take a running task whose lease expired, fencing out the first",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "t", name: "job", input: null })
      const first = Option.getOrThrow(yield* store.claim("t", { owner: "w1", expiresAt: 1_000 }))
      assert.isTrue(Option.isNone(yield* store.claim("t", { owner: "w2", expiresAt: 5_000 })), "lease still live")
      yield* store.heartbeat("t", first.fencingToken, 2_000)
      yield* TestClock.adjust(1_500)
      assert.isTrue(Option.isNone(yield* store.claim("t", { owner: "w2", expiresAt: 5_000 })), "heartbeat extended it")
      yield* TestClock.adjust(1_000)
      const stolen = Option.getOrThrow(yield* store.claim("t", { owner: "w2", expiresAt: 9_000 }))
      assert.deepStrictEqual([stolen.leaseOwner, stolen.attempt], ["w2", 1])
      assert.isTrue(stolen.fencingToken > first.fencingToken)
      const lostBeat = yield* Effect.flip(store.heartbeat("t", first.fencingToken, 10_000))
      assert.strictEqual(lostBeat._tag, "LeaseLost")
      const lostFinish = yield* Effect.flip(store.finish("t", first.fencingToken, { _tag: "Completed", output: 1 }))
      assert.strictEqual(lostFinish._tag, "LeaseLost")
      yield* store.finish("t", stolen.fencingToken, { _tag: "Completed", output: 2 })
      assert.strictEqual(Option.getOrThrow(yield* store.get("t")).output, 2)
    })
  )

  test(
    "lists runnable tasks of the given names, the longest due first",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* TestClock.adjust(100)
      yield* store.create({ id: "later", name: "a", input: null, runAt: 50 })
      yield* store.create({ id: "now", name: "a", input: null })
      yield* store.create({ id: "future", name: "a", input: null, runAt: 10_000 })
      yield* store.create({ id: "other", name: "b", input: null })
      yield* store.create({ id: "busy", name: "a", input: null })
      yield* store.claim("busy", { owner: "w", expiresAt: 10_000 })
      const ids = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((t) => t.id)
      assert.deepStrictEqual(ids(yield* store.listRunnable({ names: ["a"], limit: 10 })), ["later", "now"])
      assert.deepStrictEqual(ids(yield* store.listRunnable({ names: ["a", "b"], limit: 2 })), ["later", "now"])
      assert.deepStrictEqual(ids(yield* store.listRunnable({ names: ["b"], limit: 10 })), ["other"])
      assert.deepStrictEqual(ids(yield* store.listRunnable({ names: [], limit: 10 })), [])
    })
  )

  test(
    "refuses a claim beyond maxParallel live leases of one name and session",
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (const id of ["a1", "a2", "a3"]) yield* store.create({ id, name: "job", input: null, sessionId: "s" })
      yield* store.create({ id: "b1", name: "job", input: null, sessionId: "other" })
      const lease = { owner: "w", expiresAt: 1_000, maxParallel: 2 }
      assert.isTrue(Option.isSome(yield* store.claim("a1", lease)))
      assert.isTrue(Option.isSome(yield* store.claim("a2", lease)))
      assert.isTrue(Option.isNone(yield* store.claim("a3", lease)), "two already run in session s")
      assert.isTrue(Option.isSome(yield* store.claim("b1", lease)), "another session has its own count")
      yield* TestClock.adjust(2_000)
      assert.isTrue(
        Option.isSome(yield* store.claim("a3", { ...lease, expiresAt: 5_000 })),
        "expired leases do not count"
      )
    })
  )

  test(
    "cancels idle tasks only",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "idle", name: "job", input: null })
      yield* store.create({ id: "busy", name: "job", input: null })
      yield* store.claim("busy", { owner: "w", expiresAt: 1 })
      const idle = yield* store.cancelIdle("idle")
      assert.strictEqual(Option.getOrThrow(idle).status, "cancelled")
      assert.isTrue(Option.isNone(yield* store.cancelIdle("busy")))
      assert.isTrue(Option.isNone(yield* store.cancelIdle("idle")), "a cancelled task stays cancelled")
      assert.isTrue(Option.isNone(yield* store.cancelIdle("missing")))
    })
  )

  test(
    "says firstClaim only of a task's first claim, never of a claim after a suspension or of a recovery",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const lease = { owner: "w", expiresAt: 10_000 }
      const created = yield* store.create({ id: "created", name: "job", input: null, lease })
      assert.isUndefined(created.firstClaim, "a create answers the task as stored")
      for (const id of ["alone", "b1", "b2", "limited", "parent"]) yield* store.create({ id, name: "job", input: null })
      yield* store.create({ id: "child", name: "kid", input: null, parentId: "parent" })
      const alone = Option.getOrThrow(yield* store.claim("alone", lease))
      const both = yield* Effect.all([store.claim("b1", lease), store.claim("b2", lease)], { concurrency: "unbounded" })
      const limited = Option.getOrThrow(yield* store.claim("limited", { ...lease, maxParallel: 100 }))
      const child = Option.getOrThrow(yield* store.claimChild("parent", ["kid"], lease))
      const firsts = [alone, ...both.map((claimed) => Option.getOrThrow(claimed)), limited, child]
      // A store may not tell (absent), but one that tells says it of every first claim.
      const told = firsts.map((record) => record.firstClaim)
      assert.isTrue(
        told.every((said) => said === true) || told.every((said) => said === undefined),
        `first claims: ${JSON.stringify(told)}`
      )
      assert.isUndefined(Option.getOrThrow(yield* store.get("alone")).firstClaim, "kept only in the claim's answer")

      yield* store.finish("alone", alone.fencingToken, { _tag: "Suspended", reason: { _tag: "Paused" }, runAt: 0 })
      const resumed = Option.getOrThrow(yield* store.claim("alone", lease))
      assert.notStrictEqual(resumed.firstClaim, true, "a claim after a suspension")
      yield* store.finish("created", created.fencingToken, { _tag: "Requeued", attempt: 2 })
      const retried = Option.getOrThrow(yield* store.claim("created", lease))
      assert.notStrictEqual(retried.firstClaim, true, "a retry")
      yield* TestClock.adjust(10_001)
      const recovered = Option.getOrThrow(yield* store.claim("limited", { owner: "w2", expiresAt: 20_000 }))
      assert.notStrictEqual(recovered.firstClaim, true, "a recovery from an expired lease")
    })
  )
}
