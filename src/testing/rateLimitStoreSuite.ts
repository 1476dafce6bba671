/**
 * The RateLimitStore contract, run against any store: `rateLimitStoreSuite("memory", MemoryRateLimitStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { RateLimitStore } from "../stores/RateLimitStore.ts"

const lease = 60_000

export const rateLimitStoreSuite = <E>(name: string, layer: Layer.Layer<RateLimitStore, E>) =>
  describe(`RateLimitStore conformance: ${name}`, () => {
    it.effect("grants permits up to the concurrency limit, again to a holder that has one, and after a release", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        const limits = { concurrency: 2 }
        assert.strictEqual((yield* store.acquire("k", limits, "a", 1000, lease))._tag, "Granted")
        assert.strictEqual((yield* store.acquire("k", limits, "b", 1000, lease))._tag, "Granted")
        assert.strictEqual((yield* store.acquire("k", limits, "c", 1000, lease))._tag, "Wait")
        assert.strictEqual((yield* store.acquire("k", limits, "a", 1001, lease))._tag, "Granted")
        assert.strictEqual((yield* store.acquire("other", limits, "c", 1000, lease))._tag, "Granted")
        yield* store.release("k", "a", 0)
        assert.strictEqual((yield* store.acquire("k", limits, "c", 1002, lease))._tag, "Granted")
        // A holder that never released (its process crashed) frees its permit when its lease lapses.
        assert.strictEqual((yield* store.acquire("k", limits, "d", 1003, lease))._tag, "Wait")
        assert.strictEqual((yield* store.acquire("k", limits, "d", 1000 + lease + 1, lease))._tag, "Granted")
      }).pipe(Effect.provide(layer))
    )

    it.effect("holds requests per minute, and says when the next one may go", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        const limits = { requestsPerMinute: 3 }
        for (const [holder, at] of [
          ["a", 0],
          ["b", 10_000],
          ["c", 20_000]
        ] as const) {
          assert.strictEqual((yield* store.acquire("k", limits, holder, at, lease))._tag, "Granted")
          yield* store.release("k", holder, 0)
        }
        assert.deepStrictEqual(yield* store.acquire("k", limits, "d", 30_000, lease), { _tag: "Wait", until: 60_000 })
        assert.strictEqual((yield* store.acquire("k", limits, "d", 60_001, lease))._tag, "Granted")
      }).pipe(Effect.provide(layer))
    )

    it.effect("says when the next request may go from the oldest request, whatever order they were written in", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        const limits = { requestsPerMinute: 3 }
        // written in this order by processes whose clocks read these times when they asked
        for (const [holder, at] of [
          ["a", 20_000],
          ["b", 0],
          ["c", 10_000]
        ] as const) {
          assert.strictEqual((yield* store.acquire("k", limits, holder, at, lease))._tag, "Granted")
          yield* store.release("k", holder, 0)
        }
        assert.deepStrictEqual(yield* store.acquire("k", limits, "d", 30_000, lease), { _tag: "Wait", until: 60_000 })
        assert.strictEqual((yield* store.acquire("k", limits, "d", 60_001, lease))._tag, "Granted")
      }).pipe(Effect.provide(layer))
    )

    it.effect("holds tokens per minute with the tokens each request reported at its release", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        const limits = { tokensPerMinute: 100 }
        assert.strictEqual((yield* store.acquire("k", limits, "a", 0, lease))._tag, "Granted")
        yield* store.release("k", "a", 70)
        assert.strictEqual((yield* store.acquire("k", limits, "b", 5_000, lease))._tag, "Granted")
        yield* store.release("k", "b", 40)
        assert.deepStrictEqual(yield* store.acquire("k", limits, "c", 6_000, lease), { _tag: "Wait", until: 60_000 })
        assert.strictEqual((yield* store.acquire("k", limits, "c", 60_001, lease))._tag, "Granted")
      }).pipe(Effect.provide(layer))
    )

    it.effect("backs a key off for everyone until the later of the back-offs", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        yield* store.backOff("k", 5_000)
        yield* store.backOff("k", 3_000)
        assert.deepStrictEqual(yield* store.acquire("k", {}, "a", 1_000, lease), { _tag: "Wait", until: 5_000 })
        assert.strictEqual((yield* store.acquire("k", {}, "a", 5_001, lease))._tag, "Granted")
      }).pipe(Effect.provide(layer))
    )

    it.effect("never grants more than the concurrency limit to concurrent callers", () =>
      Effect.gen(function* () {
        const store = yield* RateLimitStore
        const answers = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `h${i}`),
          (holder) => store.acquire("k", { concurrency: 5, requestsPerMinute: 8 }, holder, 1000, lease),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(answers.filter((answer) => answer._tag === "Granted").length, 5)
        assert.strictEqual(Object.keys((yield* store.read("k")).holders).length, 5)
      }).pipe(Effect.provide(layer))
    )
  })
