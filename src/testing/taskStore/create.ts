/** Creating tasks: ids, idempotency keys, tasks created already claimed, and concurrent creates. */
import { assert } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { TestClock } from "effect/testing"
import { type StoreError, TaskIdTaken } from "../../stores/errors.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import { type NewTask, TaskStore } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

export const createTests = (test: SuiteTest): void => {
  test(
    "keeps what a task was forked from, created pending or claimed, and lists it in summaries",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const origin = { taskId: "old", checkpointId: "checkpoint_run-old_mid_1", inputReplaced: true }
      const pending = yield* store.create({ id: "f1", name: "job", input: 1, forkedFrom: origin })
      const claimed = yield* store.create({
        id: "f2",
        name: "job",
        input: 2,
        forkedFrom: { taskId: "old2", checkpointId: "c" },
        lease: { owner: "w", expiresAt: 60_000 }
      })
      assert.deepStrictEqual(pending.forkedFrom, origin)
      assert.deepStrictEqual(claimed.forkedFrom, { taskId: "old2", checkpointId: "c" })
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("f1")).forkedFrom, origin)
      const ended = yield* store.finish("f2", claimed.fencingToken, { _tag: "Completed", output: null })
      assert.deepStrictEqual(ended.forkedFrom, { taskId: "old2", checkpointId: "c" })
      const summaries = yield* store.listSummaries({ limit: 10 })
      assert.deepStrictEqual(
        summaries.items.map((task) => task.forkedFrom?.taskId),
        ["old", "old2"]
      )
      // a task not forked has none
      assert.isUndefined((yield* store.create({ id: "t", name: "job", input: 0 })).forkedFrom)
    })
  )

  test(
    "keeps the trace context given to create, pending or claimed, through its transitions",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const trace = { traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", rootId: "t1" }
      yield* store.create({ id: "t1", name: "job", input: 1, trace })
      const claimed = yield* store.create({
        id: "t2",
        name: "job",
        input: 2,
        trace,
        lease: { owner: "w", expiresAt: 60_000 }
      })
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("t1")).trace, trace)
      const ended = yield* store.finish("t2", claimed.fencingToken, { _tag: "Completed", output: null })
      assert.deepStrictEqual(ended.trace, trace)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("t2")).trace, trace)
      // a task created without one has none
      assert.isUndefined((yield* store.create({ id: "t3", name: "job", input: 0 })).trace)
    })
  )

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
    "keeps a task's deadline, created alone, claimed, queued or in a concurrent batch, and through its transitions",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const lease = { owner: "w", expiresAt: 10_000 }
      yield* store.create({ id: "p", name: "job", input: null, deadline: 9_000 })
      yield* store.create({ id: "alone", name: "job", input: null, deadline: 5_000 })
      yield* store.create({ id: "claimed", name: "job", input: null, deadline: 6_000, lease })
      yield* store.create({
        id: "queued",
        name: "job",
        input: null,
        parentId: "p",
        childKey: "q",
        queued: true,
        deadline: 7_000
      })
      const batch = yield* Effect.forEach(
        [1, 2, 3],
        (i) => store.create({ id: `b${i}`, name: "job", input: i, deadline: 8_000 + i, ...(i === 2 ? { lease } : {}) }),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        batch.map((record) => record.deadline),
        [8_001, 8_002, 8_003]
      )
      yield* store.create({ id: "none", name: "job", input: null })
      const deadlineOf = (id: string) => Effect.map(store.get(id), (found) => Option.getOrThrow(found).deadline)
      assert.strictEqual(yield* deadlineOf("alone"), 5_000)
      assert.strictEqual(yield* deadlineOf("claimed"), 6_000)
      assert.strictEqual(yield* deadlineOf("queued"), 7_000)
      assert.strictEqual(yield* deadlineOf("b2"), 8_002)
      assert.strictEqual(yield* deadlineOf("none"), undefined)
      // a transition keeps it
      const claimed = Option.getOrThrow(yield* store.get("claimed"))
      yield* store.finish("claimed", claimed.fencingToken, {
        _tag: "Suspended",
        reason: { _tag: "Paused" },
        runAt: 6_000
      })
      assert.strictEqual(yield* deadlineOf("claimed"), 6_000)
    })
  )

  test(
    "refuses a second task with an existing id with TaskIdTaken, pending or claimed, and keeps the first",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const first = yield* store.create({ id: "dup", name: "job", input: 1 })
      const lease = { owner: "w", expiresAt: 10_000 }
      for (const again of [
        { id: "dup", name: "other", input: 2 },
        { id: "dup", name: "other", input: 2, lease },
        { id: "dup", name: "other", input: 2, idempotencyKey: "new" }
      ] satisfies ReadonlyArray<NewTask>) {
        assert.deepStrictEqual(yield* Effect.flip(store.create(again)), new TaskIdTaken({ taskId: "dup" }))
      }
      assert.deepStrictEqual(yield* store.get("dup"), Option.some(first))
      // the refused create's key holds no task: the next create with it creates its own
      assert.strictEqual(
        (yield* store.create({ id: "fresh", name: "job", input: 3, idempotencyKey: "new" })).id,
        "fresh"
      )
    })
  )

  test(
    "returns the task holding an idempotency key, unchanged, even to a create whose id is taken",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const keyed = yield* store.create({ id: "k1", name: "job", input: 1, idempotencyKey: "key" })
      yield* store.create({ id: "other", name: "job", input: 2 })
      const again = yield* store.create({ id: "other", name: "job", input: 3, idempotencyKey: "key" })
      assert.deepStrictEqual(again, keyed)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("other")).input, 2)
    })
  )

  test(
    "refuses, among concurrent creates, only those whose id a stored task has, with TaskIdTaken",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const taken = yield* store.create({ id: "taken", name: "job", input: 0 })
      const lease = { owner: "w", expiresAt: 10_000 }
      const creates: ReadonlyArray<NewTask> = [
        { id: "a", name: "job", input: 1 },
        { id: "taken", name: "job", input: 2 },
        { id: "b", name: "job", input: 3, lease },
        { id: "taken", name: "job", input: 4, lease },
        { id: "taken", name: "job", input: 5, idempotencyKey: "unused" },
        { id: "c", name: "job", input: 6, idempotencyKey: "c" }
      ]
      const outcomes = yield* Effect.all(
        creates.map((task) => Effect.exit(store.create(task))),
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual(
        outcomes.map((outcome) =>
          Exit.isSuccess(outcome) ? outcome.value.id : Option.getOrThrow(Exit.findErrorOption(outcome))
        ),
        [
          "a",
          new TaskIdTaken({ taskId: "taken" }),
          "b",
          new TaskIdTaken({ taskId: "taken" }),
          new TaskIdTaken({ taskId: "taken" }),
          "c"
        ]
      )
      assert.deepStrictEqual(yield* store.get("taken"), Option.some(taken))
      assert.strictEqual((yield* store.list({})).items.length, 4)
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
      assert.deepStrictEqual(ids(yield* store.listRunnable({ names: ["job"], limit: 10 })), ["p", "c"], "p due since 0")
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
      const error = Option.getOrThrow(
        Exit.findErrorOption(outcomes[2] as Exit.Exit<TaskRecord, StoreError | TaskIdTaken>)
      )
      assert.deepStrictEqual(error, new TaskIdTaken({ taskId: "dup" }))
      assert.strictEqual(Option.getOrThrow(yield* store.get("dup")).name, "first")
      assert.strictEqual((yield* store.list({})).items.length, 3)
    })
  )
}
