import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Ref, Schedule, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { TaskInfo, task } from "../../src/index.ts"
import { Boom, withRuntime } from "./fixtures.ts"

describe("Runtime: timeouts and retries", () => {
  it.effect("times an attempt out with TaskTimeout", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const slow = task({ name: "slow", input: Schema.Void, timeout: "10 seconds" }, () => Effect.sleep("1 minute"))
        const handle = yield* runtime.submit(slow, undefined)
        yield* TestClock.adjust("10 seconds")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "TaskTimeout")
        if (error._tag === "TaskTimeout") assert.strictEqual(error.timeoutMillis, 10_000)
        const record = yield* handle.info
        assert.deepStrictEqual([record.status, record.error?.tag], ["failed", "TaskTimeout"])
      })
    )
  )

  it.effect("retries by its Schedule, numbering attempts, and keeps the last error", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const flaky = task(
          { name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 2 })) },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              yield* Ref.update(attempts, (all) => [...all, info.attempt])
              if (info.attempt < 3) return yield* new Boom({ reason: `attempt ${info.attempt}` })
              return info.attempt
            })
        )
        const handle = yield* runtime.submit(flaky, undefined)
        yield* Effect.yieldNow
        const waiting = yield* handle.info
        assert.deepStrictEqual([waiting.status, waiting.attempt, waiting.runAt], ["pending", 2, 60_000])
        assert.strictEqual(waiting.error?.tag, "Boom")
        yield* TestClock.adjust("59 seconds")
        assert.deepStrictEqual(yield* Ref.get(attempts), [1])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2])
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* handle.await, 3)
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2, 3])
        assert.strictEqual((yield* handle.info).attempt, 3)
      })
    )
  )

  it.effect("ends the fibers an attempt forked when the attempt ends, before the next attempt runs", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const log = yield* Ref.make<ReadonlyArray<string>>([])
        const note = (line: string) => Ref.update(log, (all) => [...all, line])
        const forking = task(
          { name: "forking", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 1 })) },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              yield* note(`attempt ${info.attempt}`)
              // a child left running when the attempt ends
              yield* Effect.forkChild(
                Effect.never.pipe(Effect.onInterrupt(() => note(`child of attempt ${info.attempt} interrupted`)))
              )
              yield* Effect.yieldNow
              if (info.attempt === 1) return yield* new Boom({ reason: "once" })
              return info.attempt
            })
        )
        const handle = yield* runtime.submit(forking, undefined)
        // attempt 1 recorded as failed, to be retried in a minute
        yield* handle.events.pipe(
          Stream.filter((event) => event._tag === "StatusChanged" && event.status === "pending" && event.attempt === 2),
          Stream.take(1),
          Stream.runDrain
        )
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* handle.await, 2)
        yield* Effect.yieldNow
        assert.deepStrictEqual(yield* Ref.get(log), [
          "attempt 1",
          "child of attempt 1 interrupted",
          "attempt 2",
          "child of attempt 2 interrupted"
        ])
      })
    )
  )

  it.effect("stops retrying once a Schedule bounded in time has run out, counting from the task's start", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const doomed = task(
          {
            name: "doomed",
            input: Schema.Void,
            retry: Schedule.spaced("10 seconds").pipe(Schedule.upTo({ duration: "25 seconds" }))
          },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              const now = yield* Clock.currentTimeMillis
              yield* Ref.update(attempts, (all) => [...all, now])
              return yield* new Boom({ reason: `attempt ${info.attempt}` })
            })
        )
        const handle = yield* runtime.submit(doomed, undefined)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("10 seconds")
        const failed = yield* Effect.flip(handle.await)
        assert.strictEqual(failed._tag, "Boom")
        // retried at 10 and 20 s; the failure at 30 s is past the 25 s the schedule allows
        assert.deepStrictEqual(yield* Ref.get(attempts), [0, 10_000, 20_000, 30_000])
      })
    )
  )

  it.effect("fails with the last error once the Schedule allows no more attempts", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const hopeless = task({ name: "hopeless", input: Schema.Void, retry: Schedule.recurs(2) }, () =>
          Effect.flatMap(Effect.service(TaskInfo), (info) =>
            Effect.fail(new Boom({ reason: `attempt ${info.attempt}` }))
          )
        )
        const error = yield* Effect.flip(runtime.run(hopeless, undefined))
        assert.strictEqual(error._tag, "Boom")
        if (error._tag === "Boom") assert.strictEqual(error.reason, "attempt 3")
        const record = (yield* runtime.list({})).items[0]!
        assert.deepStrictEqual([record.status, record.attempt], ["failed", 3])
      })
    )
  )
})
