/** Ending attempts: each transition, fencing by token, and concurrent finishes and heartbeats. */
import { assert } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import { LeaseLost, type StoreError } from "../../stores/errors.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import { TaskStore, type Transition } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

export const finishTests = (test: SuiteTest): void => {
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
      assert.deepStrictEqual([failed.status, failed.error?.tag, failed.error?.message], ["failed", "Boom", "it broke"])
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
        assert.deepStrictEqual([stored.status, stored.output, stored.leaseExpiresAt], ["completed", "done", undefined])
      }
    })
  )
}
