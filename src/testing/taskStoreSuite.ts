/**
 * The TaskStore contract, run against any store: `taskStoreSuite("memory", MemoryTaskStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, type Layer, Option, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import { LeaseLost, type StoreError } from "../stores/errors.ts"
import type { TaskRecord } from "../stores/TaskRecord.ts"
import { type NewTask, TaskStore, type Transition } from "../stores/TaskStore.ts"

export const taskStoreSuite = <E>(name: string, layer: Layer.Layer<TaskStore, E>) =>
  describe(`TaskStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, TaskStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "creates a pending task at attempt 1 and reads it back",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* TestClock.adjust(1234)
        const created = yield* store.create({ id: "t1", name: "job", input: { n: 1 }, sessionId: "s1" })
        assert.strictEqual(created.status, "pending")
        assert.strictEqual(created.attempt, 1)
        assert.strictEqual(created.createdAt, 1234)
        const read = yield* store.get("t1")
        assert.isTrue(Option.isSome(read))
        if (Option.isSome(read)) {
          assert.deepStrictEqual(read.value.input, { n: 1 })
          assert.strictEqual(read.value.sessionId, "s1")
          assert.strictEqual(read.value.parentId, undefined)
        }
        assert.isTrue(Option.isNone(yield* store.get("missing")))
      })
    )

    test(
      "refuses a second task with an existing id and keeps the first",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "dup", name: "job", input: 1 })
        const error = yield* Effect.flip(store.create({ id: "dup", name: "other", input: 2 }))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "create"])
        assert.deepStrictEqual(Option.getOrThrow(yield* store.get("dup")).input, 1)
      })
    )

    test(
      "creates at most one task per idempotency key",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const first = yield* store.create({ id: "k1", name: "job", input: 1, idempotencyKey: "key" })
        const second = yield* store.create({ id: "k2", name: "job", input: 2, idempotencyKey: "key" })
        assert.strictEqual(second.id, first.id)
        assert.deepStrictEqual(second.input, 1)
        assert.isTrue(Option.isNone(yield* store.get("k2")))
        const other = yield* store.create({ id: "k3", name: "job", input: 3, idempotencyKey: "other" })
        assert.strictEqual(other.id, "k3")
      })
    )

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
      "records each transition and clears the lease",
      Effect.gen(function* () {
        const store = yield* TaskStore
        for (const id of ["c", "f", "x", "s", "r"]) yield* store.create({ id, name: "job", input: null })
        const token = (id: string) =>
          Effect.map(store.claim(id, { owner: "w", expiresAt: 99 }), (o) => Option.getOrThrow(o).fencingToken)
        const completed = yield* store.finish("c", yield* token("c"), { _tag: "Completed", output: [1, "two"] })
        assert.strictEqual(completed.status, "completed")
        assert.deepStrictEqual(completed.output, [1, "two"])
        assert.strictEqual(completed.leaseOwner, undefined)
        assert.isDefined(completed.finishedAt)
        const failed = yield* store.finish("f", yield* token("f"), {
          _tag: "Failed",
          error: { tag: "Boom", message: "it broke" }
        })
        assert.deepStrictEqual(
          [failed.status, failed.error?.tag, failed.error?.message],
          ["failed", "Boom", "it broke"]
        )
        const cancelled = yield* store.finish("x", yield* token("x"), { _tag: "Cancelled" })
        assert.strictEqual(cancelled.status, "cancelled")
        const suspended = yield* store.finish("s", yield* token("s"), {
          _tag: "Suspended",
          reason: { _tag: "WaitingForSignal", signal: "approve" }
        })
        assert.strictEqual(suspended.status, "suspended")
        assert.deepStrictEqual(suspended.suspendReason, { _tag: "WaitingForSignal", signal: "approve" })
        const requeued = yield* store.finish("r", yield* token("r"), {
          _tag: "Requeued",
          attempt: 2,
          runAt: 500,
          error: { tag: "Flaky", message: "try again" }
        })
        assert.deepStrictEqual([requeued.status, requeued.attempt, requeued.runAt], ["pending", 2, 500])
        assert.strictEqual(requeued.error?.tag, "Flaky")
      })
    )

    test(
      "refuses a write with a stale fencing token and keeps the current attempt's state",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "t", name: "job", input: null })
        const first = Option.getOrThrow(yield* store.claim("t", { owner: "w1", expiresAt: 1 }))
        yield* store.finish("t", first.fencingToken, { _tag: "Requeued", attempt: 1 })
        const second = Option.getOrThrow(yield* store.claim("t", { owner: "w2", expiresAt: 1 }))
        const error = yield* Effect.flip(store.finish("t", first.fencingToken, { _tag: "Completed", output: "stale" }))
        assert.strictEqual(error._tag, "LeaseLost")
        const current = Option.getOrThrow(yield* store.get("t"))
        assert.deepStrictEqual([current.status, current.leaseOwner, current.output], ["running", "w2", undefined])
        yield* store.finish("t", second.fencingToken, { _tag: "Completed", output: "fresh" })
        assert.strictEqual(Option.getOrThrow(yield* store.get("t")).output, "fresh")
      })
    )

    test(
      "creates a task already claimed under a lease, with a fresh fencing token, in one write",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "earlier", name: "job", input: null })
        const earlier = Option.getOrThrow(yield* store.claim("earlier", { owner: "w1", expiresAt: 10_000 }))
        yield* TestClock.adjust(500)
        const created = yield* store.create({
          id: "c",
          name: "job",
          input: { n: 1 },
          sessionId: "s1",
          lease: { owner: "w1", expiresAt: 10_000 }
        })
        assert.deepStrictEqual(
          [created.status, created.attempt, created.leaseOwner, created.leaseExpiresAt],
          ["running", 1, "w1", 10_000]
        )
        assert.deepStrictEqual([created.createdAt, created.updatedAt, created.startedAt], [500, 500, 500])
        assert.deepStrictEqual([created.runAt, created.finishedAt, created.sessionId], [undefined, undefined, "s1"])
        assert.isTrue(created.fencingToken > 0)
        assert.isTrue(created.fencingToken > earlier.fencingToken, "tokens come from the claims' sequence")
        assert.deepStrictEqual(yield* store.get("c"), Option.some(created))
        // a later claim of another task gets a larger token still
        yield* store.create({ id: "later", name: "job", input: null })
        const later = Option.getOrThrow(yield* store.claim("later", { owner: "w1", expiresAt: 10_000 }))
        assert.isTrue(later.fencingToken > created.fencingToken)
      })
    )

    test(
      "holds a task created claimed like a claimed one: heartbeat and finish with its token, stale tokens refused",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "old", name: "job", input: null })
        const old = Option.getOrThrow(yield* store.claim("old", { owner: "w1", expiresAt: 10_000 }))
        const created = yield* store.create({
          id: "c",
          name: "job",
          input: null,
          lease: { owner: "w1", expiresAt: 1_000 }
        })
        const token = created.fencingToken
        yield* store.heartbeat("c", token, 2_000)
        assert.strictEqual(Option.getOrThrow(yield* store.get("c")).leaseExpiresAt, 2_000)
        for (const stale of [0, old.fencingToken]) {
          const beat = yield* Effect.flip(store.heartbeat("c", stale, 5_000))
          assert.strictEqual(beat._tag, "LeaseLost")
          const finish = yield* Effect.flip(store.finish("c", stale, { _tag: "Completed", output: "stale" }))
          assert.strictEqual(finish._tag, "LeaseLost")
        }
        const done = yield* store.finish("c", token, { _tag: "Completed", output: "fresh" })
        assert.deepStrictEqual([done.status, done.output, done.leaseOwner], ["completed", "fresh", undefined])
      })
    )

    test(
      "neither lists nor lets another owner claim a task created claimed while its lease is live",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const created = yield* store.create({
          id: "c",
          name: "job",
          input: null,
          lease: { owner: "w1", expiresAt: 1_000 }
        })
        yield* store.create({ id: "p", name: "job", input: null })
        const ids = (rows: ReadonlyArray<{ readonly id: string }>) => rows.map((t) => t.id)
        assert.deepStrictEqual(ids(yield* store.listRunnable({ names: ["job"], limit: 10 })), ["p"])
        assert.isTrue(Option.isNone(yield* store.claim("c", { owner: "w2", expiresAt: 5_000 })))
        assert.isTrue(Option.isNone(yield* store.claim("c", { owner: "w1", expiresAt: 5_000 })))
        // once the lease has expired, it is a task whose worker died: runnable, and taken with a larger token
        yield* TestClock.adjust(1_001)
        assert.deepStrictEqual(
          ids(yield* store.listRunnable({ names: ["job"], limit: 10 })),
          ["p", "c"],
          "p due since 0"
        )
        const taken = Option.getOrThrow(yield* store.claim("c", { owner: "w2", expiresAt: 9_000 }))
        assert.deepStrictEqual([taken.leaseOwner, taken.attempt, taken.startedAt], ["w2", 1, 0])
        assert.isTrue(taken.fencingToken > created.fencingToken)
        const lost = yield* Effect.flip(store.heartbeat("c", created.fencingToken, 9_000))
        assert.strictEqual(lost._tag, "LeaseLost")
      })
    )

    test(
      "returns the first task, unchanged, for a claimed create with an idempotency key already used",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w1", expiresAt: 10_000 }
        const pending = yield* store.create({ id: "k1", name: "job", input: 1, idempotencyKey: "key" })
        const again = yield* store.create({ id: "k2", name: "job", input: 2, idempotencyKey: "key", lease })
        assert.deepStrictEqual(again, pending)
        assert.deepStrictEqual([again.status, again.fencingToken, again.leaseOwner], ["pending", 0, undefined])
        assert.isTrue(Option.isNone(yield* store.get("k2")))
        const claimed = yield* store.create({ id: "c1", name: "job", input: 1, idempotencyKey: "claimed", lease })
        yield* TestClock.adjust(100)
        const second = yield* store.create({
          id: "c2",
          name: "job",
          input: 2,
          idempotencyKey: "claimed",
          lease: { owner: "w2", expiresAt: 20_000 }
        })
        assert.deepStrictEqual(second, claimed, "same token, same lease")
        assert.deepStrictEqual(yield* store.get("c1"), Option.some(claimed))
        assert.isTrue(Option.isNone(yield* store.get("c2")))
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
        assert.isTrue(
          Option.isNone(yield* store.claim("t", { owner: "w2", expiresAt: 5_000 })),
          "heartbeat extended it"
        )
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
      "gives each of many concurrent finishes its own outcome, refusing stale tokens and storing every fresh one",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w", expiresAt: 10_000 }
        const count = 60
        const ids = Array.from({ length: count }, (_, i) => `t${i}`)
        const first = yield* Effect.forEach(ids, (id) => store.create({ id, name: "job", input: null, lease }))
        // every third task was taken again since: its first token is stale
        const tokens = new Map<string, number>()
        for (const [i, id] of ids.entries()) {
          let token = (first[i] as TaskRecord).fencingToken
          if (i % 3 === 0) {
            yield* store.finish(id, token, { _tag: "Requeued", attempt: 2 })
            token = Option.getOrThrow(yield* store.claim(id, lease)).fencingToken
          }
          tokens.set(id, token)
        }
        const transitions: ReadonlyArray<(i: number) => Transition> = [
          (i) => ({ _tag: "Completed", output: { i } }),
          (i) => ({ _tag: "Failed", error: { tag: "Boom", message: `failed ${i}` } }),
          () => ({ _tag: "Cancelled" }),
          (i) => ({ _tag: "Suspended", reason: { _tag: "Paused", until: 5_000 + i }, runAt: 5_000 + i }),
          (i) => ({ _tag: "Requeued", attempt: 3, runAt: 7_000 + i })
        ]
        const transitionOf = (i: number) => (transitions[i % transitions.length] as (i: number) => Transition)(i)
        const calls = [
          ...ids.map((id, i) => ({ id, token: tokens.get(id) as number, transition: transitionOf(i), fresh: true })),
          // stale attempts of the tasks taken again, racing the fresh ones
          ...ids.flatMap((id, i) =>
            i % 3 === 0
              ? [{ id, token: (first[i] as TaskRecord).fencingToken, transition: transitionOf(i + 1), fresh: false }]
              : []
          )
        ]
        const outcomes = yield* Effect.all(
          calls.map((call) => Effect.exit(store.finish(call.id, call.token, call.transition))),
          { concurrency: "unbounded" }
        )
        for (const [n, call] of calls.entries()) {
          const outcome = outcomes[n] as Exit.Exit<TaskRecord, StoreError | LeaseLost>
          if (call.fresh) {
            assert.isTrue(Exit.isSuccess(outcome), `fresh finish of ${call.id}`)
            if (Exit.isSuccess(outcome)) assert.strictEqual(outcome.value.id, call.id)
          } else {
            const error = Option.getOrThrow(Exit.findErrorOption(outcome))
            assert.deepStrictEqual(error, new LeaseLost({ taskId: call.id, token: call.token }))
          }
        }
        for (const [i, id] of ids.entries()) {
          const stored = Option.getOrThrow(yield* store.get(id))
          const transition = transitionOf(i)
          assert.deepStrictEqual(outcomes[i], Exit.succeed(stored), "the record it returned is the one stored")
          assert.strictEqual(stored.leaseOwner, undefined)
          switch (transition._tag) {
            case "Completed":
              assert.deepStrictEqual([stored.status, stored.output], ["completed", { i }])
              break
            case "Failed":
              assert.deepStrictEqual([stored.status, stored.error?.message], ["failed", `failed ${i}`])
              break
            case "Cancelled":
              assert.strictEqual(stored.status, "cancelled")
              break
            case "Suspended":
              assert.deepStrictEqual([stored.status, stored.runAt], ["suspended", 5_000 + i])
              assert.deepStrictEqual(stored.suspendReason, { _tag: "Paused", until: 5_000 + i })
              break
            case "Requeued":
              assert.deepStrictEqual([stored.status, stored.attempt, stored.runAt], ["pending", 3, 7_000 + i])
              break
          }
        }
      })
    )

    test(
      "lets exactly one of two concurrent finishes with the same token win, and stores the winner's outcome",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w", expiresAt: 10_000 }
        const ids = Array.from({ length: 20 }, (_, i) => `t${i}`)
        const created = yield* Effect.forEach(ids, (id) => store.create({ id, name: "job", input: null, lease }))
        const outcomes = yield* Effect.all(
          created.flatMap((task) =>
            ["a", "b"].map((who) =>
              Effect.exit(store.finish(task.id, task.fencingToken, { _tag: "Completed", output: who }))
            )
          ),
          { concurrency: "unbounded" }
        )
        for (const [i, task] of created.entries()) {
          const pair = [outcomes[2 * i], outcomes[2 * i + 1]] as Array<Exit.Exit<TaskRecord, StoreError | LeaseLost>>
          const won = pair.filter(Exit.isSuccess)
          assert.strictEqual(won.length, 1, `one winner for ${task.id}`)
          const lost = pair.find(Exit.isFailure)
          assert.strictEqual(lost && Option.getOrThrow(Exit.findErrorOption(lost))._tag, "LeaseLost")
          const stored = Option.getOrThrow(yield* store.get(task.id))
          assert.deepStrictEqual(stored, won[0]?.value)
          assert.strictEqual(stored.output, pair[0] === won[0] ? "a" : "b")
        }
      })
    )

    test(
      "creates one task per idempotency key for many concurrent creates, each of them given that task",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const keys = 20
        const creates = Array.from({ length: keys * 3 }, (_, n) => {
          const key = n % keys
          return {
            id: `k${key}-${Math.floor(n / keys)}`,
            name: "job",
            input: n,
            idempotencyKey: `key${key}`,
            // a key is first used with or without a lease, depending on which create gets there first
            lease: n % 2 === 0 ? { owner: "w", expiresAt: 10_000 } : undefined
          } satisfies NewTask
        })
        const plain = Array.from({ length: 10 }, (_, i) => ({ id: `plain${i}`, name: "job", input: i }))
        const created = yield* Effect.all(
          [...creates, ...plain].map((task) => store.create(task)),
          { concurrency: "unbounded" }
        )
        for (let key = 0; key < keys; key++) {
          const same = created.filter((_, n) => n < creates.length && n % keys === key)
          assert.strictEqual(same.length, 3)
          assert.deepStrictEqual(same[1], same[0])
          assert.deepStrictEqual(same[2], same[0])
          assert.strictEqual(same[0]?.idempotencyKey, `key${key}`)
          assert.include([`k${key}-0`, `k${key}-1`, `k${key}-2`], same[0]?.id)
        }
        for (const [i, task] of created.slice(creates.length).entries()) {
          assert.deepStrictEqual([task.id, task.input, task.status], [`plain${i}`, i, "pending"])
        }
        const stored = (yield* store.list({ limit: 1000 })).items
        assert.strictEqual(stored.length, keys + plain.length)
        assert.strictEqual(new Set(stored.map((task) => task.idempotencyKey ?? task.id)).size, keys + plain.length)
        for (const task of created) assert.deepStrictEqual(Option.getOrThrow(yield* store.get(task.id)), task)
      })
    )

    test(
      "refuses only the second of two concurrent creates of one id, and creates the others",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const outcomes = yield* Effect.all(
          [
            store.create({ id: "a", name: "job", input: 1 }),
            store.create({ id: "dup", name: "first", input: 1 }),
            store.create({ id: "dup", name: "second", input: 2 }),
            store.create({ id: "b", name: "job", input: 2 })
          ].map(Effect.exit),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          outcomes.map((outcome) => (Exit.isSuccess(outcome) ? outcome.value.id : "refused")),
          ["a", "dup", "refused", "b"]
        )
        const error = Option.getOrThrow(Exit.findErrorOption(outcomes[2] as Exit.Exit<TaskRecord, StoreError>))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "create"])
        assert.strictEqual(Option.getOrThrow(yield* store.get("dup")).name, "first")
        assert.strictEqual((yield* store.list({})).items.length, 3)
      })
    )

    test(
      "keeps concurrent creates, heartbeats and finishes of many tasks apart",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w", expiresAt: 1_000 }
        // tasks done before, whose late heartbeats and finishes race the new tasks' writes
        const old = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, i) => `old${i}`),
          (id) => store.create({ id, name: "job", input: null, lease })
        )
        for (const task of old) yield* store.finish(task.id, task.fencingToken, { _tag: "Completed", output: "done" })
        const lifecycle = (i: number) =>
          Effect.gen(function* () {
            const task = yield* store.create({ id: `new${i}`, name: "job", input: i, lease })
            yield* store.heartbeat(task.id, task.fencingToken, 2_000 + i)
            assert.strictEqual(Option.getOrThrow(yield* store.get(task.id)).leaseExpiresAt, 2_000 + i)
            return yield* store.finish(task.id, task.fencingToken, { _tag: "Completed", output: i * 2 })
          })
        const late = (task: TaskRecord) =>
          Effect.gen(function* () {
            const beat = yield* Effect.flip(store.heartbeat(task.id, task.fencingToken, 9_000))
            const finish = yield* Effect.flip(store.finish(task.id, task.fencingToken, { _tag: "Cancelled" }))
            return [beat._tag, finish._tag]
          })
        const [finished, refused] = yield* Effect.all(
          [
            Effect.all(
              Array.from({ length: 40 }, (_, i) => lifecycle(i)),
              { concurrency: "unbounded" }
            ),
            Effect.all(old.map(late), { concurrency: "unbounded" })
          ],
          { concurrency: "unbounded" }
        )
        for (const [i, task] of finished.entries()) {
          assert.deepStrictEqual([task.id, task.status, task.output, task.input], [`new${i}`, "completed", i * 2, i])
        }
        for (const tags of refused) assert.deepStrictEqual(tags, ["LeaseLost", "LeaseLost"])
        for (const task of old) {
          const stored = Option.getOrThrow(yield* store.get(task.id))
          assert.deepStrictEqual(
            [stored.status, stored.output, stored.leaseExpiresAt],
            ["completed", "done", undefined]
          )
        }
      })
    )

    test(
      "lists by status, name, session and parent, in pages",
      Effect.gen(function* () {
        const store = yield* TaskStore
        for (let i = 0; i < 7; i++) {
          // Creation times of different digit counts (9, 99, 999...): cursors must order them as numbers.
          yield* TestClock.adjust(9 * 10 ** i)
          yield* store.create({
            id: `t${i}`,
            name: i % 2 === 0 ? "even" : "odd",
            input: i,
            sessionId: i < 4 ? "s1" : "s2",
            parentId: i === 6 ? "t0" : undefined
          })
        }
        yield* store.claim("t0", { owner: "w", expiresAt: 1 })
        const ids = (page: { readonly items: ReadonlyArray<{ readonly id: string }> }) => page.items.map((t) => t.id)
        assert.deepStrictEqual(ids(yield* store.list({ name: "odd" })), ["t1", "t3", "t5"])
        assert.deepStrictEqual(ids(yield* store.list({ sessionId: "s2" })), ["t4", "t5", "t6"])
        assert.deepStrictEqual(ids(yield* store.list({ status: "running" })), ["t0"])
        assert.deepStrictEqual(ids(yield* store.list({ parentId: "t0" })), ["t6"])
        const first = yield* store.list({ limit: 3 })
        assert.deepStrictEqual(ids(first), ["t0", "t1", "t2"])
        const second = yield* store.list({ limit: 3, cursor: first.nextCursor })
        assert.deepStrictEqual(ids(second), ["t3", "t4", "t5"])
        const third = yield* store.list({ limit: 3, cursor: second.nextCursor })
        assert.deepStrictEqual(ids(third), ["t6"])
        assert.strictEqual(third.nextCursor, undefined)
      })
    )

    test(
      "keeps a cancel asked for a running task: its heartbeats fail with CancelRequested, and it cannot be requeued",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "idle", name: "job", input: null })
        assert.isFalse(yield* store.requestCancel("idle"))
        assert.isFalse(yield* store.requestCancel("missing"))
        yield* store.create({ id: "t", name: "job", input: null })
        const token = Option.getOrThrow(yield* store.claim("t", { owner: "w", expiresAt: 1_000 })).fencingToken
        yield* store.heartbeat("t", token, 2_000)
        assert.isTrue(yield* store.requestCancel("t"))
        const asked = yield* Effect.flip(store.heartbeat("t", token, 3_000))
        assert.strictEqual(asked._tag, "CancelRequested")
        // the lease is extended all the same, and a stale token is still refused as such
        assert.strictEqual(Option.getOrThrow(yield* store.get("t")).leaseExpiresAt, 3_000)
        assert.strictEqual((yield* Effect.flip(store.heartbeat("t", token + 1, 3_000)))._tag, "LeaseLost")
        // the attempt ends before it heard of it: a retry (or a suspension) is recorded as the cancel instead
        const requeued = yield* store.finish("t", token, {
          _tag: "Requeued",
          attempt: 2,
          runAt: 9_000,
          error: { tag: "Boom", message: "again" }
        })
        // as a cancel leaves it: at its attempt, without the retry's error
        assert.deepStrictEqual(
          [requeued.status, requeued.runAt, requeued.attempt, requeued.error],
          ["cancelled", undefined, 1, undefined]
        )
        yield* store.create({ id: "s", name: "job", input: null })
        const other = Option.getOrThrow(yield* store.claim("s", { owner: "w", expiresAt: 4_000 })).fencingToken
        yield* store.requestCancel("s")
        const suspended = yield* store.finish("s", other, { _tag: "Suspended", reason: { _tag: "Paused" } })
        assert.deepStrictEqual([suspended.status, suspended.suspendReason], ["cancelled", undefined])
        // the same for attempts that end together (a store may write them as one statement)
        const ids = ["b1", "b2", "b3"]
        const tokens = yield* Effect.forEach(ids, (id) =>
          Effect.gen(function* () {
            yield* store.create({ id, name: "job", input: null })
            const claimed = Option.getOrThrow(yield* store.claim(id, { owner: "w", expiresAt: 4_000 }))
            yield* store.requestCancel(id)
            return claimed.fencingToken
          })
        )
        const together = yield* Effect.forEach(
          ids,
          (id, i) => store.finish(id, tokens[i] ?? 0, { _tag: "Requeued", attempt: 2, runAt: 9_000 }),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          together.map((task) => task.status),
          ["cancelled", "cancelled", "cancelled"]
        )
        // its holder died (the lease ran out) before it heard of it: the next claim cancels it instead
        yield* store.create({ id: "d", name: "job", input: null })
        yield* store.claim("d", { owner: "dead", expiresAt: 0 })
        assert.isTrue(yield* store.requestCancel("d"))
        yield* TestClock.adjust(1)
        assert.isTrue(Option.isNone(yield* store.claim("d", { owner: "w", expiresAt: 60_000 })))
        const reclaimed = Option.getOrThrow(yield* store.get("d"))
        assert.deepStrictEqual([reclaimed.status, reclaimed.leaseOwner], ["cancelled", undefined])
        // an attempt that completes anyway completes
        yield* store.create({ id: "c", name: "job", input: null })
        const last = Option.getOrThrow(yield* store.claim("c", { owner: "w", expiresAt: 5_000 })).fencingToken
        yield* store.requestCancel("c")
        assert.strictEqual((yield* store.finish("c", last, { _tag: "Completed", output: 1 })).status, "completed")
      })
    )

    test(
      "keeps a pause asked for a running task: its heartbeats fail with PauseRequested, and a retry or claim pauses it",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const claimed = (id: string, expiresAt: number) =>
          Effect.map(store.claim(id, { owner: "w", expiresAt }), (claim) => Option.getOrThrow(claim).fencingToken)
        const paused = (task: TaskRecord): ReadonlyArray<unknown> => [
          task.status,
          task.suspendReason,
          task.runAt,
          task.leaseOwner
        ]
        const pausedFromOutside: ReadonlyArray<unknown> = ["suspended", { _tag: "Paused" }, undefined, undefined]
        yield* store.create({ id: "idle", name: "job", input: null })
        assert.isFalse(yield* store.requestPause("idle"))
        assert.isFalse(yield* store.requestPause("missing"))
        yield* store.create({ id: "t", name: "job", input: null })
        const token = yield* claimed("t", 1_000)
        assert.isTrue(yield* store.requestPause("t"))
        const asked = yield* Effect.flip(store.heartbeat("t", token, 3_000))
        assert.strictEqual(asked._tag, "PauseRequested")
        // the lease is extended all the same, and a stale token is still refused as such
        assert.strictEqual(Option.getOrThrow(yield* store.get("t")).leaseExpiresAt, 3_000)
        assert.strictEqual((yield* Effect.flip(store.heartbeat("t", token + 1, 3_000)))._tag, "LeaseLost")
        // the attempt ends before it heard of it: its retry is paused instead, at the retry's attempt, with its error
        const requeued = yield* store.finish("t", token, {
          _tag: "Requeued",
          attempt: 2,
          runAt: 9_000,
          error: { tag: "Boom", message: "again" }
        })
        assert.deepStrictEqual(paused(requeued), pausedFromOutside)
        assert.deepStrictEqual([requeued.attempt, requeued.error], [2, { tag: "Boom", message: "again" }])
        // paused once, the request is done: resumed, the task runs, and its heartbeats are plain again
        yield* store.wake("t")
        const resumed = yield* claimed("t", 4_000)
        yield* store.heartbeat("t", resumed, 5_000)
        // a suspension (here, a body's pause until a time) is paused from outside instead
        assert.isTrue(yield* store.requestPause("t"))
        const suspended = yield* store.finish("t", resumed, {
          _tag: "Suspended",
          reason: { _tag: "Paused", until: 9_000 },
          runAt: 9_000
        })
        assert.deepStrictEqual(paused(suspended), pausedFromOutside)
        // withdrawn before anything carried it out (a resume came first): the attempt goes on as if never asked
        yield* store.create({ id: "w", name: "job", input: null })
        const withdrawn = yield* claimed("w", 4_000)
        assert.isFalse(yield* store.withdrawPause("w"))
        yield* store.requestPause("w")
        assert.isTrue(yield* store.withdrawPause("w"))
        yield* store.heartbeat("w", withdrawn, 5_000)
        const retried = yield* store.finish("w", withdrawn, { _tag: "Requeued", attempt: 2 })
        assert.strictEqual(retried.status, "pending")
        // a cancel asked too wins
        yield* store.create({ id: "both", name: "job", input: null })
        const both = yield* claimed("both", 4_000)
        yield* store.requestPause("both")
        yield* store.requestCancel("both")
        assert.strictEqual((yield* Effect.flip(store.heartbeat("both", both, 5_000)))._tag, "CancelRequested")
        const cancelled = yield* store.finish("both", both, { _tag: "Requeued", attempt: 2 })
        assert.strictEqual(cancelled.status, "cancelled")
        // the same for attempts that end together (a store may write them as one statement)
        const ids = ["b1", "b2", "b3"]
        const tokens = yield* Effect.forEach(ids, (id) =>
          Effect.gen(function* () {
            yield* store.create({ id, name: "job", input: null })
            const held = yield* claimed(id, 4_000)
            yield* store.requestPause(id)
            return held
          })
        )
        const together = yield* Effect.forEach(
          ids,
          (id, i) => store.finish(id, tokens[i] ?? 0, { _tag: "Requeued", attempt: 2, runAt: 9_000 }),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(together.map(paused), [pausedFromOutside, pausedFromOutside, pausedFromOutside])
        // its holder died (the lease ran out) before it heard of it: the next claim pauses it instead
        yield* store.create({ id: "d", name: "job", input: null })
        yield* store.claim("d", { owner: "dead", expiresAt: 0 })
        assert.isTrue(yield* store.requestPause("d"))
        yield* TestClock.adjust(1)
        assert.isTrue(Option.isNone(yield* store.claim("d", { owner: "w", expiresAt: 60_000 })))
        assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get("d"))), pausedFromOutside)
        // the same for claims that go together (a store may write them as one statement)
        const dead = ["d1", "d2", "d3"]
        for (const id of dead) {
          yield* store.create({ id, name: "job", input: null })
          yield* store.claim(id, { owner: "dead", expiresAt: 0 })
          yield* store.requestPause(id)
        }
        yield* TestClock.adjust(1)
        const claims = yield* Effect.forEach(dead, (id) => store.claim(id, { owner: "w", expiresAt: 60_000 }), {
          concurrency: "unbounded"
        })
        assert.isTrue(claims.every(Option.isNone))
        for (const id of dead)
          assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get(id))), pausedFromOutside)
        // its holder restarted and handed it back (`recoverOwned`): the request stays, and the claim pauses it
        yield* store.create({ id: "r", name: "job", input: null })
        yield* store.claim("r", { owner: "restarted", expiresAt: 60_000 })
        yield* store.requestPause("r")
        yield* store.recoverOwned("restarted")
        assert.isTrue(Option.isNone(yield* store.claim("r", { owner: "restarted", expiresAt: 60_000 })))
        assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get("r"))), pausedFromOutside)
        // ... unless a resume withdrew it first
        yield* store.create({ id: "rw", name: "job", input: null })
        yield* store.claim("rw", { owner: "restarted", expiresAt: 60_000 })
        yield* store.requestPause("rw")
        yield* store.recoverOwned("restarted")
        assert.isTrue(yield* store.withdrawPause("rw"))
        const taken = yield* store.claim("rw", { owner: "restarted", expiresAt: 60_000 })
        assert.strictEqual(Option.getOrThrow(taken).status, "running")
        // an attempt that completes anyway completes
        yield* store.create({ id: "c", name: "job", input: null })
        const last = yield* claimed("c", 60_000)
        yield* store.requestPause("c")
        assert.strictEqual((yield* store.finish("c", last, { _tag: "Completed", output: 1 })).status, "completed")
      })
    )

    test(
      "tells its subscribers of every cancel or pause asked, and of nothing else",
      Effect.gen(function* () {
        const store = yield* TaskStore
        for (const id of ["p", "c", "idle"]) yield* store.create({ id, name: "job", input: null })
        yield* store.claim("p", { owner: "w", expiresAt: 60_000 })
        yield* store.claim("c", { owner: "w", expiresAt: 60_000 })
        const heard = yield* Ref.make<ReadonlyArray<string>>([])
        yield* Effect.forkChild(Stream.runForEach(store.requests, (id) => Ref.update(heard, (ids) => [...ids, id])))
        // On a database the subscription starts in the background: ask until it is heard (each ask is told).
        const hears = (id: string, ask: Effect.Effect<unknown, StoreError>) =>
          Effect.gen(function* () {
            for (let tries = 0; tries < 500; tries++) {
              yield* ask
              yield* TestClock.withLive(Effect.sleep(10))
              if ((yield* Ref.get(heard)).includes(id)) return
            }
            assert.fail(`no request of ${id} was heard`)
          })
        yield* hears("p", store.requestPause("p"))
        // asked of a task that does not run: nothing is kept, nothing told
        assert.isFalse(yield* store.requestCancel("idle"))
        yield* hears("c", store.requestCancel("c"))
        const ids = yield* Ref.get(heard)
        assert.isTrue(ids.every((id) => id === "p" || id === "c"))
        assert.strictEqual(ids.at(-1), "c")
      }).pipe(Effect.scoped)
    )

    test(
      "fails a list with a cursor no page gave with InvalidCursor",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "t", name: "job", input: null })
        for (const cursor of ["not-a-cursor", `${"9".repeat(25)}:t`]) {
          const error = yield* Effect.flip(store.list({ cursor }))
          assert.strictEqual(error._tag, "InvalidCursor")
        }
      })
    )
  })
