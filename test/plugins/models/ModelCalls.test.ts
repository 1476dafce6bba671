import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Ref, Schedule, Schema, Stream } from "effect"
import { LanguageModel, Tool, Toolkit } from "effect/ai"
import { type ModelCallsOptions, ModelUsage } from "../../../src/ai.ts"
import { Children, pause, StepStore, type TaskEvent, task } from "../../../src/index.ts"
import type { Script, ScriptedModel } from "../../../src/testing/index.ts"
import { stores, withModel } from "./fixtures.ts"

const prices = { "model-a": { inputPerMillion: 3, outputPerMillion: 15, cachedInputPerMillion: 0.3 } }

/** `withModel` with the price table by default. */
const withPrices = <A, E>(
  store: Parameters<typeof withModel>[0],
  script: Script,
  f: Parameters<typeof withModel<A, E>>[2],
  options: ModelCallsOptions = { prices }
) => withModel(store, script, f, options)

const calls = (model: ScriptedModel.ScriptedModel) => Effect.map(model.requests, (requests) => requests.length)

describe.each(stores)("ModelCalls on %s", (_name, store) => {
  it.live("answers a call recorded in an earlier run of the body without calling the model", () =>
    withPrices(
      store,
      [{ text: "Paris", usage: { inputTokens: 10, outputTokens: 2 }, modelId: "model-a" }],
      (runtime, model) =>
        Effect.gen(function* () {
          const runs = yield* Ref.make(0)
          const ask = task({ name: "ask", input: Schema.String, output: Schema.String }, (question) =>
            Effect.gen(function* () {
              const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
              const response = yield* LanguageModel.generateText({ prompt: question })
              if (run === 1) yield* pause()
              return `${response.text} (${response.usage.inputTokens.total} in)`
            })
          )
          const handle = yield* runtime.submit(ask, "capital of France?")
          assert.strictEqual(yield* handle.await, "Paris (10 in)")
          assert.strictEqual(yield* Ref.get(runs), 2)
          assert.strictEqual(yield* calls(model), 1)
          const usage = yield* ModelUsage.ofTask(handle.id)
          assert.deepStrictEqual(usage, {
            calls: 1,
            inputTokens: 10,
            outputTokens: 2,
            cachedTokens: 0,
            costNanos: 10 * 3000 + 2 * 15000,
            cost: (10 * 3000 + 2 * 15000) / 1e9
          })
        })
    )
  )

  it.live("records a structured answer and decodes it on a later run", () =>
    withPrices(store, [{ object: { city: "Paris", population: 2_100_000 } }], (runtime, model) =>
      Effect.gen(function* () {
        const City = Schema.Struct({ city: Schema.String, population: Schema.Number })
        const runs = yield* Ref.make(0)
        const ask = task({ name: "ask-object", input: Schema.String, output: City }, (question) =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            const response = yield* LanguageModel.generateObject({ prompt: question, schema: City, objectName: "city" })
            if (run === 1) yield* pause()
            return response.value
          })
        )
        assert.deepStrictEqual(yield* runtime.run(ask, "largest city?"), { city: "Paris", population: 2_100_000 })
        assert.strictEqual(yield* Ref.get(runs), 2)
        assert.strictEqual(yield* calls(model), 1)
      })
    )
  )

  it.live("publishes a stream's deltas as events, records only its final text, and replays it whole", () =>
    withPrices(store, [{ deltas: ["Once ", "upon ", "a time"] }], (runtime, model) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const tell = task({ name: "tell", input: Schema.String, output: Schema.String }, (prompt) =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt }))
            if (run === 1) yield* pause()
            return parts.map((part) => (part.type === "text-delta" ? part.delta : "")).join("")
          })
        )
        const events = yield* Stream.runCollect(
          Stream.takeUntil(
            Stream.filter(runtime.subscribe(), (event) => event._tag === "ModelTextDelta" || isEnd(event)),
            isEnd
          )
        ).pipe(Effect.forkChild)
        yield* Effect.yieldNow
        const handle = yield* runtime.submit(tell, "a story")
        assert.strictEqual(yield* handle.await, "Once upon a time")
        const deltas = (yield* Fiber.join(events)).flatMap((event) =>
          event._tag === "ModelTextDelta" ? [event.delta] : []
        )
        assert.deepStrictEqual(deltas, ["Once ", "upon ", "a time"])
        assert.strictEqual(yield* calls(model), 1)
        const steps = yield* (yield* StepStore).listSteps(handle.id)
        const recorded = JSON.stringify(steps.get("model:0"))
        assert.include(recorded, '"delta":"Once upon a time"')
        assert.notInclude(recorded, '"delta":"Once "')
      })
    )
  )

  it.live('fails a run whose recorded call was asked another prompt, under the default rule "fail"', () =>
    withPrices(store, [{ text: "first" }, { text: "second" }], (runtime, model) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const drifting = task({ name: "drifting", input: Schema.Void, output: Schema.String }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            const response = yield* LanguageModel.generateText({ prompt: `question ${run}` })
            if (run === 1) yield* pause()
            return response.text
          })
        )
        const error = yield* Effect.flip(runtime.run(drifting, undefined))
        assert.strictEqual(error._tag, "TaskFailed")
        assert.include(error.message, "ModelCallChanged")
        assert.strictEqual(yield* calls(model), 1)
      })
    )
  )

  it.live('calls the model again for a changed prompt under the rule "callAgain", and counts both calls', () =>
    withPrices(
      store,
      [
        { text: "first", usage: { inputTokens: 5, outputTokens: 1 } },
        { text: "second", usage: { inputTokens: 7, outputTokens: 3 } }
      ],
      (runtime, model) =>
        Effect.gen(function* () {
          const runs = yield* Ref.make(0)
          const drifting = task({ name: "drifting", input: Schema.Void, output: Schema.String }, () =>
            Effect.gen(function* () {
              const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
              const response = yield* LanguageModel.generateText({ prompt: `question ${run}` })
              if (run === 1) yield* pause()
              return response.text
            })
          )
          const handle = yield* runtime.submit(drifting, undefined)
          assert.strictEqual(yield* handle.await, "second")
          assert.strictEqual(yield* calls(model), 2)
          const usage = yield* ModelUsage.ofTask(handle.id)
          assert.strictEqual(usage.calls, 2)
          assert.strictEqual(usage.inputTokens, 12)
          assert.strictEqual(usage.outputTokens, 4)
        }),
      { onChangedRequest: "callAgain" }
    )
  )

  it.live(
    "does not run a recorded tool handler again when its call is made again after a failure in its middle",
    () => {
      const handled = new Map<string, number>()
      const Lookup = Tool.make("lookup", {
        parameters: Schema.Struct({ topic: Schema.String }),
        success: Schema.String
      })
      const Save = Tool.make("save", {
        parameters: Schema.Struct({ note: Schema.String }),
        success: Schema.Boolean,
        failure: Schema.String
      })
      const tools = Toolkit.make(Lookup, Save)
      let saveFailures = 1
      const handlers = tools.toLayer({
        lookup: ({ topic }) =>
          Effect.sync(() => {
            handled.set("lookup", (handled.get("lookup") ?? 0) + 1)
            return `facts about ${topic}`
          }),
        save: () =>
          Effect.suspend(() => {
            handled.set("save", (handled.get("save") ?? 0) + 1)
            // The first save fails the call, which is not recorded: the task is retried and the model asked again.
            return saveFailures-- > 0 ? Effect.fail("save failed") : Effect.succeed(true)
          })
      })
      return withPrices(
        store,
        [
          {
            toolCalls: [
              { name: "lookup", params: { topic: "reefs" } },
              { name: "save", params: { note: "reefs" } }
            ]
          }
        ],
        (runtime, model) =>
          Effect.gen(function* () {
            const research = task(
              {
                name: "research",
                input: Schema.String,
                output: Schema.Array(Schema.String),
                retry: Schedule.recurs(1)
              },
              (topic) =>
                Effect.gen(function* () {
                  const toolkit = yield* tools
                  const response = yield* LanguageModel.generateText({ prompt: topic, toolkit, concurrency: 1 })
                  return response.toolResults.map((result) => String(result.result))
                }).pipe(Effect.provide(handlers))
            )
            assert.deepStrictEqual(yield* runtime.run(research, "reefs"), ["facts about reefs", "true"])
            assert.strictEqual(yield* calls(model), 2)
            assert.strictEqual(handled.get("lookup"), 1)
            assert.strictEqual(handled.get("save"), 2)
          })
      )
    }
  )

  it.live("sums the usage of a run tree: its root's calls and every child's, exactly", () =>
    withPrices(
      store,
      (request) => ({
        text: `about ${request.lastUserText}`,
        usage: { inputTokens: request.lastUserText.length, outputTokens: 3, cachedTokens: 1 },
        modelId: "model-a"
      }),
      (runtime) =>
        Effect.gen(function* () {
          const researcher = task({ name: "researcher", input: Schema.String, output: Schema.String }, (topic) =>
            Effect.map(LanguageModel.generateText({ prompt: topic }), (response) => response.text)
          )
          const supervisor = task(
            { name: "supervisor", input: Schema.Array(Schema.String), output: Schema.String },
            (topics) =>
              Effect.gen(function* () {
                const plan = yield* LanguageModel.generateText({ prompt: "plan" })
                const notes = yield* Children.all(
                  topics.map((topic) => Children.spec(researcher, topic, { key: topic }))
                )
                return [plan.text, ...notes].join("; ")
              })
          )
          const handle = yield* runtime.submit(supervisor, ["reefs", "tides"])
          assert.strictEqual(yield* handle.await, "about plan; about reefs; about tides")
          const tree = Option.getOrThrow(yield* ModelUsage.ofTree(handle.id))
          const cost = (input: number) => (input - 1) * 3000 + 1 * 300 + 3 * 15000
          assert.deepStrictEqual(tree.total, {
            calls: 3,
            inputTokens: 4 + 5 + 5,
            outputTokens: 9,
            cachedTokens: 3,
            costNanos: cost(4) + cost(5) + cost(5),
            cost: (cost(4) + cost(5) + cost(5)) / 1e9
          })
          assert.strictEqual(tree.byTask.size, 3)
          assert.strictEqual(tree.byTask.get(handle.id)?.inputTokens, 4)
        })
    )
  )
})

const isEnd = (event: TaskEvent) =>
  event._tag === "StatusChanged" && (event.status === "completed" || event.status === "failed")
