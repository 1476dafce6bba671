import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, Schema } from "effect"
import { LanguageModel } from "effect/ai"
import { TestClock } from "effect/testing"
import type { ModelCallsOptions } from "../../../src/ai.ts"
import { Children, MemoryStore, RateLimitStore, task } from "../../../src/index.ts"
import type { Script } from "../../../src/testing/index.ts"
import { pglite, stores, withModel } from "./fixtures.ts"

/** `withModel` with the plugin's options first. */
const withLimits = <A, E>(
  store: Parameters<typeof withModel>[0],
  script: Script,
  options: ModelCallsOptions,
  f: Parameters<typeof withModel<A, E>>[2]
) => withModel(store, script, f, options)

/** Makes `calls` model calls in turn. */
const caller = task(
  { name: "caller", input: Schema.Number, output: Schema.Number, retry: Schedule.recurs(2) },
  (calls) =>
    Effect.gen(function* () {
      for (let i = 0; i < calls; i++) yield* LanguageModel.generateText({ prompt: `question ${i}` })
      return calls
    })
)

describe.each(stores)("per-key limits on %s", (_name, store) => {
  it.live("never answers more calls of a key at once than its concurrency limit", () =>
    withLimits(
      store,
      [{ text: "ok", delay: "30 millis" }],
      { limits: { "provider:default": { concurrency: 2 } } },
      (runtime, model) =>
        Effect.gen(function* () {
          const fanOut = task({ name: "fan-out", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
            Children.all(Array.from({ length: 6 }, (_, i) => Children.spec(caller, 2, { key: `c${i}` })))
          )
          assert.deepStrictEqual(yield* runtime.run(fanOut, undefined), [2, 2, 2, 2, 2, 2])
          assert.strictEqual((yield* model.requests).length, 12)
          assert.strictEqual(yield* model.maxConcurrent, 2)
          assert.deepStrictEqual((yield* (yield* RateLimitStore).read("provider:default")).holders, {})
        })
    )
  )
})

describe.each([
  ["memory", MemoryStore.layer],
  ["PGlite", pglite]
] as const)("per-key limits on the test clock, %s", (_name, store) => {
  it.effect("suspends a task whose next permit is a minute off, and resumes it then", () =>
    withLimits(
      store,
      [{ text: "ok" }],
      { limits: { "provider:default": { requestsPerMinute: 3 } } },
      (runtime, model) =>
        Effect.gen(function* () {
          const handle = yield* runtime.submit(caller, 5)
          const result = yield* Effect.forkChild(handle.await)
          for (let i = 0; i < 50 && (yield* handle.status) !== "suspended"; i++) yield* Effect.yieldNow
          assert.strictEqual(yield* handle.status, "suspended")
          assert.strictEqual((yield* model.requests).length, 3)
          assert.strictEqual((yield* handle.info).suspendReason?._tag, "Paused")
          yield* TestClock.adjust("60001 millis")
          assert.strictEqual(yield* Fiber.join(result), 5)
          assert.strictEqual((yield* model.requests).length, 5)
        })
    )
  )

  it.effect("backs the key off for every task when the provider answers that it is rate-limited", () =>
    withLimits(
      store,
      (request) => (request.index === 0 ? { fail: "RateLimitError" } : { text: "ok" }),
      { limits: { "provider:default": { concurrency: 10 } }, backOff: "30 seconds" },
      (runtime, model) =>
        Effect.gen(function* () {
          const first = yield* runtime.submit(caller, 1)
          const firstResult = yield* Effect.forkChild(first.await)
          for (let i = 0; i < 50 && (yield* model.requests).length < 1; i++) yield* Effect.yieldNow
          const second = yield* runtime.submit(caller, 1)
          const secondResult = yield* Effect.forkChild(second.await)
          for (let i = 0; i < 100; i++) yield* Effect.yieldNow
          // The first call was refused; neither task calls again before the back-off ends.
          assert.strictEqual((yield* model.requests).length, 1)
          yield* TestClock.adjust("30001 millis")
          assert.strictEqual(yield* Fiber.join(firstResult), 1)
          assert.strictEqual(yield* Fiber.join(secondResult), 1)
          assert.strictEqual((yield* model.requests).length, 3)
        })
    )
  )
})
