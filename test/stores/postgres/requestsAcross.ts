/**
 * A cancel and a pause asked by one runtime of tasks another runtime runs, over a database: the holder hears of each
 * through the store's notifications and acts at once. Its lease is long (10 minutes), so that no heartbeat (every
 * third of it) can carry the request within the test.
 */
import { assert } from "@effect/vitest"
import { type Context, Deferred, Effect, Schedule, Schema } from "effect"
import { Runtime, type TaskStore, task } from "../../../src/index.ts"

/**
 * Asks until `done` holds, every 100 ms, at most 100 times: the holder starts listening with its first attempt, in the
 * background, and a request told before it listens is heard only at its next heartbeat. Each ask is told again.
 */
const askUntil = <E>(ask: Effect.Effect<unknown, E>, done: Effect.Effect<boolean, E>) =>
  Effect.gen(function* () {
    for (let tries = 0; tries < 100; tries++) {
      yield* ask
      const heard = yield* done.pipe(
        Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("10 millis"), times: 10 })
      )
      if (heard) return
    }
    assert.fail("the holder never heard of the request")
  })

export const requestsAcross = (holder: Context.Context<TaskStore>, asker: Context.Context<TaskStore>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    const long = task({ name: "long", input: Schema.Void }, () =>
      Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
    )
    const running = yield* Runtime.make({ leaseDuration: "10 minutes" }).pipe(Effect.provideContext(holder))
    const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideContext(asker))
    const statusOf = (id: string) => Effect.map(elsewhere.get(id), (record) => record.status)

    const cancelled = yield* running.submit(long, undefined)
    yield* Deferred.await(started)
    yield* askUntil(
      elsewhere.cancel(cancelled.id),
      Effect.map(statusOf(cancelled.id), (status) => status !== "running")
    )
    assert.strictEqual((yield* Effect.flip(cancelled.await))._tag, "TaskCancelled")
    assert.strictEqual(yield* statusOf(cancelled.id), "cancelled")

    const again = yield* Deferred.make<void>()
    const pausable = task({ name: "pausable", input: Schema.Void }, () =>
      Deferred.succeed(again, undefined).pipe(Effect.andThen(Effect.never))
    )
    const paused = yield* running.submit(pausable, undefined)
    yield* Deferred.await(again)
    yield* askUntil(
      elsewhere.pause(paused.id),
      Effect.map(statusOf(paused.id), (status) => status !== "running")
    )
    const record = yield* elsewhere.get(paused.id)
    assert.deepStrictEqual([record.status, record.suspendReason], ["suspended", { _tag: "Paused" }])
  }).pipe(Effect.scoped)
