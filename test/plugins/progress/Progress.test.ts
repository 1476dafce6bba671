import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Schema, type Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  type InvalidProgress,
  type LogDataNotSerializable,
  Progress,
  ProgressPlugin
} from "../../../src/plugins/progress/index.ts"
import { Runtime, type TaskEvent, task } from "../../../src/runtime/index.ts"
import { ProgressStore } from "../../../src/stores/ProgressStore.ts"
import type { TaskStore } from "../../../src/stores/TaskStore.ts"
import { hasEnded, isAscending, progressEvents, reported, Stores } from "./fixtures.ts"

const withRuntime = <A, E>(
  f: (runtime: Runtime.Runtime<Progress>) => Effect.Effect<A, E, TaskStore | ProgressStore | Scope.Scope>,
  options: Runtime.RuntimeOptions<readonly []> = {}
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make({ ...options, plugins: [ProgressPlugin.make()] })
    return yield* f(runtime)
  }).pipe(Effect.scoped, Effect.provide(Stores))

/** Collects a stream in a child fiber that subscribes before this returns. */
const collect = <E>(stream: Stream.Stream<TaskEvent, E>) =>
  Effect.forkChild(Stream.runCollect(stream), { startImmediately: true })

const storedOf = (taskId: string) =>
  Effect.gen(function* () {
    const store = yield* ProgressStore
    return { latest: yield* store.getLatest(taskId), logs: yield* store.listLogs(taskId, { limit: 10_000 }) }
  })

describe("Progress", () => {
  it.effect("publishes each call as an event, in order, to handle.events and to every runtime subscriber", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const reporter = task({ name: "reporter", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* Deferred.await(gate)
            yield* progress.log("starting")
            yield* progress.update(25, "a quarter")
            yield* progress.status("crunching")
            yield* progress.log("detail", "debug", { rows: [1, 2], ok: true })
            yield* progress.log("careful", "warning")
            yield* progress.update(100)
            return "done"
          })
        )
        const subscribers = yield* Effect.all(
          Array.from({ length: 3 }, () => collect(runtime.subscribe().pipe(Stream.takeUntil(hasEnded))))
        )
        const handle = yield* runtime.submit(reporter, undefined)
        const ofHandle = yield* collect(handle.events)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* handle.await, "done")

        const expected = [
          { _tag: "LogWritten", level: "info", message: "starting" },
          { _tag: "ProgressReported", percent: 25, message: "a quarter" },
          { _tag: "StatusMessage", message: "crunching" },
          { _tag: "LogWritten", level: "debug", message: "detail", data: { rows: [1, 2], ok: true } },
          { _tag: "LogWritten", level: "warning", message: "careful" },
          { _tag: "ProgressReported", percent: 100, message: "" }
        ]
        const seen = yield* Effect.forEach(subscribers, Fiber.join)
        for (const events of seen) {
          assert.deepStrictEqual(
            events.map((event) => (event._tag === "StatusChanged" ? event.status : event._tag)),
            ["pending", "running", ...expected.map((event) => event._tag), "completed"]
          )
          assert.deepStrictEqual(progressEvents(events).map(reported), expected)
          assert.isTrue(isAscending(events.map((event) => event.seq)))
          assert.isTrue(events.every((event) => event.taskId === handle.id && event.taskName === "reporter"))
          assert.deepStrictEqual(events, seen[0], "every subscriber sees the same events with the same numbers")
        }
        const ofTask = yield* Fiber.join(ofHandle)
        assert.deepStrictEqual(progressEvents(ofTask), progressEvents(seen[0] ?? []))
        const last = ofTask.at(-1)
        assert.deepStrictEqual(last?._tag === "StatusChanged" && last.status, "completed")
      })
    )
  )

  it.effect("writes the latest progress and status to one row, and the log lines, by the time the task ends", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const reporter = task({ name: "reporter", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* progress.update(10, "first")
            yield* progress.status("loading")
            yield* TestClock.adjust("3 seconds")
            yield* progress.update(50, "half")
            yield* progress.log("a line", "error", { code: 7 })
          })
        )
        const handle = yield* runtime.submit(reporter, undefined)
        yield* handle.await
        const stored = yield* storedOf(handle.id)
        assert.deepStrictEqual(
          stored.latest,
          Option.some({ taskId: handle.id, percent: 50, message: "half", status: "loading", updatedAt: 3000 })
        )
        assert.deepStrictEqual(
          stored.logs.map(({ seq: _, ...entry }) => entry),
          [{ level: "error", message: "a line", data: { code: 7 }, at: 3000 }]
        )
      })
    )
  )

  it.effect("fails update with InvalidProgress for -1, 101, NaN and Infinity, publishing and writing nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const errors: Array<InvalidProgress> = []
        const invalid = task({ name: "invalid", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            for (const percent of [-1, 101, Number.NaN, Number.POSITIVE_INFINITY, -0.001, 100.5]) {
              errors.push(yield* Effect.flip(progress.update(percent, "never shown")))
            }
          })
        )
        const handle = yield* runtime.submit(invalid, undefined)
        yield* handle.await
        assert.deepStrictEqual(
          errors.map((error) => error._tag),
          Array(6).fill("InvalidProgress")
        )
        assert.deepStrictEqual(
          errors.map((error) => error.percent),
          [-1, 101, Number.NaN, Number.POSITIVE_INFINITY, -0.001, 100.5]
        )
        assert.deepStrictEqual(
          errors.map((error) => error.reason),
          [
            "outside 0..100",
            "outside 0..100",
            "not a finite number",
            "not a finite number",
            "outside 0..100",
            "outside 0..100"
          ]
        )
        const events = yield* Stream.runCollect(
          runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
        )
        assert.deepStrictEqual(progressEvents(events), [])
        const stored = yield* storedOf(handle.id)
        assert.isTrue(Option.isNone(stored.latest))
        assert.deepStrictEqual(stored.logs, [])
      })
    )
  )

  it.effect("accepts 0 and 100 exactly, without clamping", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const bounds = task({ name: "bounds", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* progress.update(0)
            yield* progress.update(33.3, "a third")
            yield* progress.update(100, "all")
          })
        )
        const handle = yield* runtime.submit(bounds, undefined)
        yield* handle.await
        const events = yield* Stream.runCollect(
          runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
        )
        assert.deepStrictEqual(
          progressEvents(events).map((event) => (event._tag === "ProgressReported" ? event.percent : -1)),
          [0, 33.3, 100]
        )
        assert.strictEqual(Option.getOrThrow((yield* storedOf(handle.id)).latest).percent, 100)
      })
    )
  )

  it.effect("fails log with LogDataNotSerializable for data that is not JSON, publishing and writing nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const cycle: Record<string, unknown> = { name: "loop" }
        cycle.self = cycle
        const bad: ReadonlyArray<unknown> = [
          Number.NaN,
          { nested: [1, Number.POSITIVE_INFINITY] },
          { callback: () => 1 },
          new Date(0),
          new Map([["a", 1]]),
          cycle,
          { missing: undefined },
          10n,
          { text: "a\u0000b" }
        ]
        const errors: Array<LogDataNotSerializable> = []
        const invalid = task({ name: "invalid-log", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            for (const [i, data] of bad.entries()) {
              errors.push(yield* Effect.flip(progress.log(`line ${i}`, "info", data)))
            }
          })
        )
        const handle = yield* runtime.submit(invalid, undefined)
        yield* handle.await
        assert.deepStrictEqual(
          errors.map((error) => [error._tag, error.logMessage]),
          bad.map((_, i) => ["LogDataNotSerializable", `line ${i}`])
        )
        const events = yield* Stream.runCollect(
          runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
        )
        assert.deepStrictEqual(progressEvents(events), [])
        assert.deepStrictEqual((yield* storedOf(handle.id)).logs, [])
      })
    )
  )

  it.effect("keeps logged data as it was when logged, though the caller changes its value afterwards", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const mutating = task({ name: "mutating", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            const data = { count: 1 }
            yield* progress.log("counted", "info", data)
            data.count = 2
          })
        )
        const handle = yield* runtime.submit(mutating, undefined)
        yield* handle.await
        const events = yield* Stream.runCollect(
          runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
        )
        const [event] = progressEvents(events)
        assert.deepStrictEqual(event?._tag === "LogWritten" && event.data, { count: 1 })
        assert.deepStrictEqual((yield* storedOf(handle.id)).logs[0]?.data, { count: 1 })
      })
    )
  )

  it.effect("tells a cancelled body it should stop, so it can stop by itself within the grace period", () =>
    withRuntime(
      (runtime) =>
        Effect.gen(function* () {
          const started = yield* Deferred.make<boolean>()
          const polite = task({ name: "polite", input: Schema.Void }, () =>
            Effect.gen(function* () {
              const progress = yield* Progress
              yield* Deferred.succeed(started, yield* progress.shouldStop)
              let step = 0
              while (!(yield* progress.shouldStop)) {
                yield* progress.update(Math.min(++step, 100))
                yield* Effect.sleep("1 second")
              }
              yield* progress.log("stopping cleanly", "warning")
              return "stopped"
            })
          )
          const handle = yield* runtime.submit(polite, undefined)
          assert.isFalse(yield* Deferred.await(started), "no cancel asked yet")
          yield* TestClock.adjust("2 seconds")
          const cancelling = yield* Effect.forkChild(handle.cancel)
          yield* TestClock.adjust("1 second")
          yield* Fiber.join(cancelling)
          // it returned within the grace period: it completed, with what it returned
          assert.strictEqual(yield* handle.status, "completed")
          assert.strictEqual(yield* handle.await, "stopped")
          const stored = yield* storedOf(handle.id)
          assert.deepStrictEqual(
            stored.logs.map((entry) => entry.message),
            ["stopping cleanly"]
          )
          assert.strictEqual(Option.getOrThrow(stored.latest).percent, 3)
        }),
      { cancelGracePeriod: "10 seconds" }
    )
  )

  it.effect(
    "interrupts a body that ignores shouldStop once the grace period has passed, and still writes its lines",
    () =>
      withRuntime(
        (runtime) =>
          Effect.gen(function* () {
            const started = yield* Deferred.make<void>()
            const stubborn = task({ name: "stubborn", input: Schema.Void }, () =>
              Effect.gen(function* () {
                const progress = yield* Progress
                yield* progress.log("working")
                yield* progress.status("busy forever")
                yield* Deferred.succeed(started, undefined)
                return yield* Effect.never
              })
            )
            const handle = yield* runtime.submit(stubborn, undefined)
            yield* Deferred.await(started)
            const cancelling = yield* Effect.forkChild(handle.cancel)
            yield* TestClock.adjust("9 seconds")
            assert.strictEqual(yield* handle.status, "running")
            yield* TestClock.adjust("1 second")
            yield* Fiber.join(cancelling)
            assert.strictEqual(yield* handle.status, "cancelled")
            const stored = yield* storedOf(handle.id)
            assert.deepStrictEqual(
              stored.logs.map((entry) => entry.message),
              ["working"]
            )
            assert.strictEqual(Option.getOrThrow(stored.latest).status, "busy forever")
          }),
        { cancelGracePeriod: "10 seconds" }
      )
  )

  it.effect("never blocks a task on a subscriber that stopped reading: 10 000 updates complete", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const chatty = task({ name: "chatty", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            for (let i = 1; i <= 10_000; i++) yield* progress.update(i / 100, `item ${i}`)
            return "finished"
          })
        )
        const firstSeen = yield* Deferred.make<number>()
        // Reads one event, then never again: its buffer fills up while the task goes on.
        const stalled = yield* Effect.forkChild(
          runtime
            .subscribe()
            .pipe(Stream.runForEach((event) => Effect.andThen(Deferred.succeed(firstSeen, event.seq), Effect.never))),
          { startImmediately: true }
        )
        const handle = yield* runtime.submit(chatty, undefined)
        assert.strictEqual(yield* Deferred.await(firstSeen), 1)
        assert.strictEqual(yield* handle.await, "finished")
        assert.strictEqual(yield* handle.status, "completed")
        assert.deepStrictEqual(
          Option.map((yield* storedOf(handle.id)).latest, (latest) => [latest.percent, latest.message]),
          Option.some([100, "item 10000"])
        )
        assert.isUndefined(stalled.pollUnsafe(), "the stalled subscriber is still there, still not reading")
        yield* Fiber.interrupt(stalled)
      })
    )
  )

  it.effect("lets a subscriber that stopped reading catch up on the newest events, its oldest dropped", () =>
    withRuntime(
      (runtime) =>
        Effect.gen(function* () {
          const chatty = task({ name: "chatty", input: Schema.Void }, () =>
            Effect.gen(function* () {
              const progress = yield* Progress
              for (let i = 1; i <= 10_000; i++) yield* progress.log(`line ${i}`)
            })
          )
          const resume = yield* Deferred.make<void>()
          const seen: Array<TaskEvent> = []
          // Stops after the first event until the task has ended, then reads to the end of the task.
          const slow = yield* Effect.forkChild(
            runtime.subscribe().pipe(
              Stream.takeUntil(hasEnded),
              Stream.runForEach((event) =>
                Effect.suspend(() => {
                  seen.push(event)
                  return seen.length === 1 ? Deferred.await(resume) : Effect.void
                })
              )
            ),
            { startImmediately: true }
          )
          const handle = yield* runtime.submit(chatty, undefined)
          yield* handle.await
          yield* Deferred.succeed(resume, undefined)
          yield* Fiber.join(slow)
          const lines = seen.filter((event) => event._tag === "LogWritten").map((event) => event.message)
          assert.isBelow(seen.length, 200, "the subscriber kept at most its buffer of 100 (plus what it held)")
          assert.notInclude(lines, "line 1")
          assert.strictEqual(lines.at(-1), "line 10000")
          assert.isTrue(isAscending(seen.map((event) => event.seq)))
          assert.isTrue(hasEnded(seen.at(-1) as TaskEvent))
        }),
      { eventBufferSize: 100 }
    )
  )

  it.effect("resumes one task's events after a sequence number with runtime.subscribe({ after, taskId })", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const lines = (name: string) =>
          task({ name, input: Schema.Void }, () =>
            Effect.gen(function* () {
              const progress = yield* Progress
              for (let i = 1; i <= 3; i++) yield* progress.log(`${name} ${i}`)
              yield* Deferred.await(gate)
              for (let i = 4; i <= 6; i++) yield* progress.log(`${name} ${i}`)
            })
          )
        const mine = yield* runtime.submit(lines("mine"), undefined)
        const other = yield* runtime.submit(lines("other"), undefined)
        const firstTwo = yield* Stream.runCollect(
          runtime.subscribe({ after: 0, taskId: mine.id }).pipe(
            Stream.filter((event) => event._tag === "LogWritten"),
            Stream.take(2)
          )
        )
        const lastSeen = firstTwo.at(-1)?.seq ?? 0
        // A reader that lost its connection comes back with the last number it saw, while the task still runs.
        const resumed = yield* collect(
          runtime.subscribe({ after: lastSeen, taskId: mine.id }).pipe(Stream.takeUntil(hasEnded))
        )
        yield* Deferred.succeed(gate, undefined)
        yield* mine.await
        yield* other.await
        const events = yield* Fiber.join(resumed)
        assert.deepStrictEqual(
          progressEvents(events).map((event) => (event._tag === "LogWritten" ? event.message : event._tag)),
          ["mine 3", "mine 4", "mine 5", "mine 6"]
        )
        assert.isTrue(events.every((event) => event.taskId === mine.id && event.seq > lastSeen))
        assert.isTrue(isAscending(events.map((event) => event.seq)))
      })
    )
  )
})
