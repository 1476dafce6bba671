import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Logger, Option, References, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Progress, type ProgressEvent, ProgressPlugin } from "../../../src/plugins/progress/index.ts"
import { Durable, pause } from "../../../src/plugins/state/Durable.ts"
import { plugin, Runtime, task } from "../../../src/runtime/index.ts"
import * as MemoryStepStore from "../../../src/stores/memory/MemoryStepStore.ts"
import { ProgressStore } from "../../../src/stores/ProgressStore.ts"
import { countingStores, hasEnded, progressEvents, Stores } from "./fixtures.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

/** A task that logs `count` lines ("line 0", "line 1", ...), then waits for `gate` when one is given. */
const logLines = (name: string, count: number, gate?: Deferred.Deferred<void>) =>
  task({ name, input: Schema.Void }, () =>
    Effect.gen(function* () {
      const progress = yield* Progress
      for (let i = 0; i < count; i++) yield* progress.log(`line ${i}`)
      if (gate !== undefined) yield* Deferred.await(gate)
    })
  )

const messagesOf = (taskId: string) =>
  Effect.gen(function* () {
    const store = yield* ProgressStore
    return (yield* store.listLogs(taskId, { limit: 10_000 })).map((entry) => entry.message)
  })

describe("ProgressPlugin", () => {
  it.effect("writes 100 quick log lines in one append by default, not one write per line", () => {
    const { calls, layer } = countingStores()
    return Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make()] })
      const handle = yield* runtime.submit(logLines("hundred", 100), undefined)
      yield* handle.await
      assert.deepStrictEqual(calls.appendLogs, [100])
      assert.strictEqual((yield* messagesOf(handle.id)).length, 100)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.effect(
    "appends each batch of flushEvery lines as it fills, in order, and the rest when the execution ends",
    () => {
      const { calls, layer } = countingStores()
      return Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushEvery: 25 })] })
        const gate = yield* Deferred.make<void>()
        const handle = yield* runtime.submit(logLines("batched", 110, gate), undefined)
        yield* Effect.yieldNow
        assert.strictEqual(yield* handle.status, "running")
        assert.deepStrictEqual(calls.appendLogs, [25, 25, 25, 25])
        assert.strictEqual((yield* messagesOf(handle.id)).length, 100)
        yield* Deferred.succeed(gate, undefined)
        yield* handle.await
        assert.deepStrictEqual(calls.appendLogs, [25, 25, 25, 25, 10])
        assert.deepStrictEqual(
          yield* messagesOf(handle.id),
          Array.from({ length: 110 }, (_, i) => `line ${i}`)
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
    }
  )

  it.effect("appends buffered lines at each flush interval, driven by the Clock", () => {
    const { calls, layer } = countingStores()
    return Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushInterval: "5 seconds" })] })
      const gate = yield* Deferred.make<void>()
      const handle = yield* runtime.submit(logLines("slow", 3, gate), undefined)
      yield* Effect.yieldNow
      yield* TestClock.adjust("4 seconds")
      assert.deepStrictEqual(calls.appendLogs, [], "nothing is written before the interval")
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(calls.appendLogs, [3])
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(calls.appendLogs, [3], "an empty buffer is not written")
      yield* Deferred.succeed(gate, undefined)
      yield* handle.await
      assert.deepStrictEqual(calls.appendLogs, [3])
      assert.deepStrictEqual(yield* messagesOf(handle.id), ["line 0", "line 1", "line 2"])
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.effect(
    "writes the latest progress at most once per interval, the latest value winning, and again at the end",
    () => {
      const { calls, layer } = countingStores()
      return Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushInterval: "1 second" })] })
        const halfway = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const busy = task({ name: "busy", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* progress.status("warming up")
            for (let i = 1; i <= 50; i++) yield* progress.update(i, `item ${i}`)
            yield* progress.status("working")
            yield* Deferred.succeed(halfway, undefined)
            yield* Deferred.await(gate)
            for (let i = 51; i <= 100; i++) yield* progress.update(i)
          })
        )
        const handle = yield* runtime.submit(busy, undefined)
        yield* Deferred.await(halfway)
        assert.deepStrictEqual(calls.setLatest, [])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(calls.setLatest, [{ status: "working", percent: 50, message: "item 50", updatedAt: 0 }])
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(calls.setLatest.length, 1, "nothing new, nothing written")
        yield* Deferred.succeed(gate, undefined)
        yield* handle.await
        assert.deepStrictEqual(calls.setLatest.at(-1), { percent: 100, message: "", updatedAt: 6000 })
        assert.strictEqual(calls.setLatest.length, 2)
        const latest = yield* Effect.flatMap(ProgressStore, (store) => store.getLatest(handle.id))
        assert.deepStrictEqual(
          latest,
          Option.some({ taskId: handle.id, percent: 100, message: "", status: "working", updatedAt: 6000 })
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
    }
  )

  it.effect("writes what was reported when an execution fails, is cancelled or suspends", () =>
    Effect.gen(function* () {
      const durable = plugin({ name: "durable", layer: Durable.layer })
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make(), durable] })
      const report = (name: string) =>
        Effect.gen(function* () {
          const progress = yield* Progress
          yield* progress.log(`${name} logged`)
          yield* progress.update(42, name)
        })

      const failing = task({ name: "failing", input: Schema.Void }, () =>
        Effect.andThen(report("failing"), Effect.fail(new Boom({ reason: "bad input" })))
      )
      const failed = yield* runtime.submit(failing, undefined)
      assert.strictEqual((yield* Effect.flip(failed.await))._tag, "Boom")

      const started = yield* Deferred.make<void>()
      const endless = task({ name: "endless", input: Schema.Void }, () =>
        report("endless").pipe(Effect.andThen(Deferred.succeed(started, undefined)), Effect.andThen(Effect.never))
      )
      const cancelled = yield* runtime.submit(endless, undefined)
      yield* Deferred.await(started)
      yield* cancelled.cancel

      const napping = task({ name: "napping", input: Schema.Void }, () =>
        Effect.andThen(report("napping"), pause({ delay: "1 hour" }))
      )
      const suspended = yield* runtime.submit(napping, undefined)
      yield* Effect.yieldNow

      const store = yield* ProgressStore
      for (const [handle, name, status] of [
        [failed, "failing", "failed"],
        [cancelled, "endless", "cancelled"],
        [suspended, "napping", "suspended"]
      ] as const) {
        assert.strictEqual(yield* handle.status, status)
        assert.deepStrictEqual(yield* messagesOf(handle.id), [`${name} logged`], status)
        assert.deepStrictEqual(
          Option.map(yield* store.getLatest(handle.id), (latest) => [latest.percent, latest.message]),
          Option.some([42, name]),
          status
        )
      }
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(Stores, MemoryStepStore.layer)))
  )

  it.effect("keeps only the newest keepLogs lines of a task", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ keepLogs: 10, flushEvery: 7 })] })
      const handle = yield* runtime.submit(logLines("long", 25), undefined)
      yield* handle.await
      assert.deepStrictEqual(
        yield* messagesOf(handle.id),
        Array.from({ length: 10 }, (_, i) => `line ${i + 15}`)
      )
      const again = yield* runtime.submit(logLines("short", 4), undefined)
      yield* again.await
      assert.strictEqual((yield* messagesOf(again.id)).length, 4)
      assert.strictEqual((yield* messagesOf(handle.id)).length, 10, "each task keeps its own lines")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("with keepLogs 0 stores no lines, yet publishes every one", () => {
    const { calls, layer } = countingStores()
    return Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ keepLogs: 0 })] })
      const handle = yield* runtime.submit(logLines("quiet", 5), undefined)
      yield* handle.await
      assert.deepStrictEqual(calls.appendLogs, [])
      const events = yield* Stream.runCollect(
        runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
      )
      assert.strictEqual(progressEvents(events).length, 5)
    }).pipe(Effect.scoped, Effect.provide(layer))
  })

  it.effect("keeps lines the store refused, warns, and writes them at a later flush, never failing the task", () => {
    const { calls, layer } = countingStores({ failAppends: 1 })
    const warnings: Array<unknown> = []
    const capture = Logger.make((options) => {
      if (options.logLevel === "Warn") warnings.push(options.message)
    })
    return Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushEvery: 5 })] })
      const handle = yield* runtime.submit(logLines("unlucky", 12), undefined)
      yield* handle.await
      assert.strictEqual(yield* handle.status, "completed")
      // The refused batch of 5 waits for the next full batch: 10 lines, then the last 2 at the end.
      assert.deepStrictEqual(calls.appendLogs, [5, 10, 2])
      assert.deepStrictEqual(
        yield* messagesOf(handle.id),
        Array.from({ length: 12 }, (_, i) => `line ${i}`)
      )
      assert.deepStrictEqual(warnings, [[`progress of task ${handle.id}: 5 log lines not written`]])
    }).pipe(Effect.scoped, Effect.provide([layer, Logger.layer([capture])]))
  })

  it.effect("hands every event to a custom handler, as published, without a change to the task", () =>
    Effect.gen(function* () {
      const handled: Array<ProgressEvent> = []
      const handler = (event: ProgressEvent) => Effect.sync(() => handled.push(event))
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ handler })] })
      const mixed = task({ name: "mixed", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const progress = yield* Progress
          yield* progress.status("begin")
          yield* progress.update(50, "half")
          yield* progress.log("note", "debug", { k: "v" })
        })
      )
      const handle = yield* runtime.submit(mixed, undefined)
      yield* handle.await
      const events = yield* Stream.runCollect(
        runtime.subscribe({ after: 0, taskId: handle.id }).pipe(Stream.takeUntil(hasEnded))
      )
      assert.deepStrictEqual(handled, progressEvents(events))
      assert.deepStrictEqual(
        handled.map((event) => event._tag),
        ["StatusMessage", "ProgressReported", "LogWritten"]
      )
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("toLogger writes each logged line to Effect's Logger at its level, annotated with the task", () => {
    const captured: Array<{ level: string; message: unknown; annotations: Record<string, unknown> }> = []
    const capture = Logger.make((options) => {
      captured.push({
        level: options.logLevel,
        message: options.message,
        annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) }
      })
    })
    return Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ handler: ProgressPlugin.toLogger })] })
      const chatty = task({ name: "chatty", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const progress = yield* Progress
          yield* progress.log("d", "debug")
          yield* progress.log("i", "info", { rows: 3 })
          yield* progress.log("w", "warning")
          yield* progress.log("e", "error")
          yield* progress.update(10, "not a log line")
          yield* progress.status("not a log line either")
        })
      )
      const handle = yield* runtime.submit(chatty, undefined)
      yield* handle.await
      assert.deepStrictEqual(
        captured.map(({ level, message }) => [level, message]),
        [
          ["Debug", ["d"]],
          ["Info", ["i", { rows: 3 }]],
          ["Warn", ["w"]],
          ["Error", ["e"]]
        ]
      )
      for (const entry of captured) {
        assert.deepStrictEqual(entry.annotations, { taskId: handle.id, taskName: "chatty" })
      }
    }).pipe(
      Effect.scoped,
      Effect.provide([Stores, Logger.layer([capture])]),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )
  })

  it.effect("gives every execution its own buffer: concurrent tasks' lines never mix", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushEvery: 3 })] })
      const handles = yield* Effect.forEach(["a", "b", "c"], (name) => runtime.submit(logLines(name, 10), undefined))
      yield* Effect.forEach(handles, (handle) => handle.await)
      for (const handle of handles) {
        assert.deepStrictEqual(
          yield* messagesOf(handle.id),
          Array.from({ length: 10 }, (_, i) => `line ${i}`)
        )
      }
      const fibers = yield* Effect.forEach(handles, (handle) => Effect.forkChild(handle.status))
      assert.deepStrictEqual(yield* Effect.forEach(fibers, Fiber.join), ["completed", "completed", "completed"])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
