/**
 * The BudgetStore contract, run against any store: `budgetStoreSuite("memory", MemoryBudgetStore.layer)`. Each test
 * gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { type BudgetHold, BudgetStore } from "../stores/BudgetStore.ts"

const hold = (taskId: string, key: string, ownerIds: ReadonlyArray<string>, tokens = 0): BudgetHold => ({
  taskId,
  key,
  ownerIds,
  calls: 1,
  tokens,
  costNanos: 0
})

const read = (ownerId: string) =>
  Effect.flatMap(BudgetStore, (store) => Effect.map(store.read(ownerId), Option.getOrThrow))

export const budgetStoreSuite = <E>(name: string, layer: Layer.Layer<BudgetStore, E>) =>
  describe(`BudgetStore conformance: ${name}`, () => {
    it.effect("reserves against every budget of a chain, settles with the real use, and keeps the first limits", () =>
      Effect.gen(function* () {
        const store = yield* BudgetStore
        yield* store.open("root", { calls: 10, tokens: 1000 })
        yield* store.open("root", { calls: 1 })
        yield* store.open("child", { costNanos: 500 })
        assert.isTrue(Option.isNone(yield* store.reserve(hold("leaf", "model:0", ["leaf", "child", "root"], 5))))
        const reserved = yield* read("root")
        assert.deepStrictEqual(reserved.limits, { calls: 10, tokens: 1000 })
        assert.deepStrictEqual(reserved.reserved, { calls: 1, tokens: 5, costNanos: 0 })
        assert.deepStrictEqual((yield* read("child")).reserved, { calls: 1, tokens: 5, costNanos: 0 })
        yield* store.settle("leaf", "model:0", { calls: 1, tokens: 42, costNanos: 120 })
        yield* store.settle("leaf", "model:0", { calls: 1, tokens: 42, costNanos: 120 })
        const settled = yield* read("root")
        assert.deepStrictEqual(settled.reserved, { calls: 0, tokens: 0, costNanos: 0 })
        assert.deepStrictEqual(settled.spent, { calls: 1, tokens: 42, costNanos: 120 })
        assert.deepStrictEqual((yield* read("child")).spent, { calls: 1, tokens: 42, costNanos: 120 })
        assert.isTrue(Option.isNone(yield* store.read("leaf")))
      }).pipe(Effect.provide(layer))
    )

    it.effect(
      "refuses a call once any budget of the chain is reached, naming the first such, and reserves nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* BudgetStore
          yield* store.open("root", { calls: 2 })
          yield* store.open("child", { tokens: 100 })
          assert.isTrue(Option.isNone(yield* store.reserve(hold("child", "model:0", ["child", "root"]))))
          yield* store.settle("child", "model:0", { calls: 1, tokens: 100, costNanos: 0 })
          const byTokens = yield* store.reserve(hold("child", "model:1", ["child", "root"]))
          assert.deepStrictEqual(Option.getOrThrow(byTokens), {
            ownerId: "child",
            dimension: "tokens",
            limit: 100,
            used: 100
          })
          assert.isTrue(Option.isNone(yield* store.reserve(hold("other", "model:0", ["other", "root"]))))
          const byCalls = yield* store.reserve(hold("third", "model:0", ["third", "root"]))
          assert.deepStrictEqual(Option.getOrThrow(byCalls), { ownerId: "root", dimension: "calls", limit: 2, used: 2 })
          assert.deepStrictEqual((yield* read("root")).reserved, { calls: 1, tokens: 0, costNanos: 0 })
        }).pipe(Effect.provide(layer))
    )

    it.effect("reserves a key once: the same call reserved again takes nothing more", () =>
      Effect.gen(function* () {
        const store = yield* BudgetStore
        yield* store.open("root", { calls: 1 })
        assert.isTrue(Option.isNone(yield* store.reserve(hold("root", "model:0", ["root"]))))
        assert.isTrue(Option.isNone(yield* store.reserve(hold("root", "model:0", ["root"]))))
        assert.deepStrictEqual((yield* read("root")).reserved, { calls: 1, tokens: 0, costNanos: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.effect("releases the holds of a task without spending them", () =>
      Effect.gen(function* () {
        const store = yield* BudgetStore
        yield* store.open("root", { calls: 5 })
        yield* store.reserve(hold("a", "model:0", ["a", "root"], 3))
        yield* store.reserve(hold("a", "model:1", ["a", "root"], 4))
        yield* store.reserve(hold("b", "model:0", ["b", "root"], 1))
        yield* store.release("a")
        const state = yield* read("root")
        assert.deepStrictEqual(state.reserved, { calls: 1, tokens: 1, costNanos: 0 })
        assert.deepStrictEqual(state.spent, { calls: 0, tokens: 0, costNanos: 0 })
        yield* store.settle("a", "model:0", { calls: 1, tokens: 3, costNanos: 0 })
        assert.deepStrictEqual((yield* read("root")).spent, { calls: 0, tokens: 0, costNanos: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.effect("never lets concurrent reservations pass a calls budget", () =>
      Effect.gen(function* () {
        const store = yield* BudgetStore
        yield* store.open("root", { calls: 7 })
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => store.reserve(hold(`t${i}`, "model:0", [`t${i}`, "root"])),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter(Option.isNone).length, 7)
        assert.deepStrictEqual((yield* read("root")).reserved, { calls: 7, tokens: 0, costNanos: 0 })
      }).pipe(Effect.provide(layer))
    )
  })
