import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { LanguageModel } from "effect/ai"
import { ModelBudget, ModelUsage } from "../../../src/ai.ts"
import { BudgetStore, Children, task } from "../../../src/index.ts"
import { stores, withModel } from "./fixtures.ts"

/** Makes `calls` model calls in turn; stops at the first refusal and says which budget refused it. */
const caller = task({ name: "caller", input: Schema.Number, output: Schema.Array(Schema.String) }, (calls) =>
  Effect.gen(function* () {
    const said: Array<string> = []
    for (let i = 0; i < calls; i++) {
      const answer = yield* Effect.result(LanguageModel.generateText({ prompt: `question ${i}` }))
      if (answer._tag === "Success") said.push(answer.success.text)
      else {
        const reached = ModelBudget.reachedOf(answer.failure)
        // The message says that a budget of the run refused the call, not a provider's quota.
        const told = answer.failure.message.includes(`the budget of task ${Option.getOrUndefined(reached)?.ownerId}`)
        said.push(
          Option.isSome(reached) && told ? `refused by ${reached.value.dimension}` : `failed: ${answer.failure.message}`
        )
        break
      }
    }
    return said
  })
)

describe.each(stores)("usage budgets on %s", (_name, store) => {
  it.live("refuses every call past a calls budget shared by concurrent children, and makes none of them", () =>
    withModel(store, [{ text: "ok", usage: { inputTokens: 1, outputTokens: 1 } }], (runtime, model) =>
      Effect.gen(function* () {
        const supervisor = task(
          { name: "supervisor", input: Schema.Void, output: Schema.Array(Schema.String), budget: { calls: 7 } },
          () =>
            Effect.map(
              Children.all(Array.from({ length: 5 }, (_, i) => Children.spec(caller, 3, { key: `c${i}` }))),
              (outputs) => outputs.flat()
            )
        )
        const handle = yield* runtime.submit(supervisor, undefined)
        const said = yield* handle.await
        assert.strictEqual((yield* model.requests).length, 7)
        assert.strictEqual(said.filter((line) => line === "ok").length, 7)
        assert.isTrue(said.filter((line) => line !== "ok").every((line) => line === "refused by calls"))
        const ledger = Option.getOrThrow(yield* (yield* BudgetStore).read(handle.id))
        assert.deepStrictEqual(ledger.spent, { calls: 7, tokens: 14, costNanos: 0 })
        assert.deepStrictEqual(ledger.reserved, { calls: 0, tokens: 0, costNanos: 0 })
        assert.strictEqual(Option.getOrThrow(yield* ModelUsage.ofTree(handle.id)).total.calls, 7)
      })
    )
  )

  it.live("stops a task at its tokens budget: passed by at most the one call in flight, none after", () =>
    withModel(store, [{ text: "ok", usage: { inputTokens: 20, outputTokens: 10 } }], (runtime, model) =>
      Effect.gen(function* () {
        const budgeted = task(
          { name: "budgeted", input: Schema.Void, output: Schema.Array(Schema.String), budget: { tokens: 100 } },
          () => Effect.flatMap(Children.start(caller, 10, { key: "calls" }), Children.await)
        )
        const handle = yield* runtime.submit(budgeted, undefined)
        assert.deepStrictEqual(yield* handle.await, ["ok", "ok", "ok", "ok", "refused by tokens"])
        assert.strictEqual((yield* model.requests).length, 4)
        const ledger = Option.getOrThrow(yield* (yield* BudgetStore).read(handle.id))
        assert.deepStrictEqual(ledger.spent, { calls: 4, tokens: 120, costNanos: 0 })
      })
    )
  )

  it.live("checks nothing for a tree without a budget", () =>
    withModel(store, [{ text: "ok" }], (runtime, model) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(caller, 3)
        assert.deepStrictEqual(yield* handle.await, ["ok", "ok", "ok"])
        assert.strictEqual((yield* model.requests).length, 3)
        assert.isTrue(Option.isNone(yield* (yield* BudgetStore).read(handle.id)))
      })
    )
  )
})
