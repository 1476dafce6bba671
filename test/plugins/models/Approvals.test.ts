import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema, type Scope } from "effect"
import { LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import { Approvals, ModelCalls } from "../../../src/ai.ts"
import { Children, MemoryStore, Runtime, StatePlugin, type TaskHandle, task } from "../../../src/index.ts"
import { PostgresStore } from "../../../src/postgres.ts"
import { ScriptedModel, type ScriptedRequest } from "../../../src/testing/index.ts"
import { layerFrom, makeTemplate } from "../../stores/postgres/pgliteTemplate.ts"
import * as TestDatabase from "../../stores/postgres/TestDatabase.ts"

// A migrated PGlite, made once per file: each test loads it (0.3 s) instead of migrating a new one (seconds).
let template: Promise<Blob> | undefined
const pgliteTemplate = () => {
  template ??= Effect.runPromise(makeTemplate)
  return template
}

type Stores = Layer.Success<typeof MemoryStore.layer>

const stores: ReadonlyArray<readonly [string, Layer.Layer<Stores, unknown>]> = [
  ["memory", MemoryStore.layer],
  ["PGlite", Layer.unwrap(Effect.map(Effect.promise(pgliteTemplate), layerFrom))],
  ...(TestDatabase.noServer
    ? []
    : [
        [
          "the server",
          Layer.unwrap(Effect.map(TestDatabase.scoped(TestDatabase.adminUrl), (url) => PostgresStore.layer({ url })))
        ] as const
      ])
]

/** The tool results a request carries back to the model, as `name:result` (`name:denied` for a refusal). */
const toolResults = (prompt: Prompt.Prompt): ReadonlyArray<string> =>
  prompt.content.flatMap((message) =>
    message.role !== "tool"
      ? []
      : message.content.flatMap((part) =>
          part.type !== "tool-result"
            ? []
            : [
                `${part.name}:${
                  part.isFailure && (part.result as { type?: string }).type === "execution-denied"
                    ? "denied"
                    : JSON.stringify(part.result)
                }`
              ]
        )
  )

/** Asks to deploy `target`; told the result, answers with it. */
const script = (request: ScriptedRequest) => {
  const results = toolResults(request.prompt)
  return results.length > 0
    ? { text: `done (${results.join(", ")})` }
    : { toolCalls: [{ name: "deploy", params: { target: request.lastUserText } }] }
}

const Deploy = Tool.make("deploy", {
  parameters: Schema.Struct({ target: Schema.String }),
  success: Schema.String,
  needsApproval: true
})
const tools = Toolkit.make(Deploy)

const withModel = <A, E>(
  store: Layer.Layer<Stores, unknown>,
  f: (
    runtime: Runtime.Runtime<LanguageModel.LanguageModel | Layer.Success<ReturnType<typeof StatePlugin.make>["layer"]>>,
    model: ScriptedModel.ScriptedModel,
    deployed: Array<string>
  ) => Effect.Effect<A, E, Scope.Scope | Stores>
) =>
  Effect.gen(function* () {
    const model = yield* ScriptedModel.make(script)
    const runtime = yield* Runtime.make({ plugins: [StatePlugin.make(), ModelCalls.make()] }).pipe(
      Effect.provideService(LanguageModel.LanguageModel, model.service)
    )
    return yield* f(runtime, model, [])
  }).pipe(Effect.scoped, Effect.provide(store))

const operator = (deployed: Array<string>) =>
  task({ name: "operator", input: Schema.String, output: Schema.String }, (target) =>
    Effect.gen(function* () {
      const toolkit = yield* tools
      const response = yield* LanguageModel.generateText({ prompt: target, toolkit })
      return response.text
    }).pipe(
      Effect.provide(
        tools.toLayer({
          deploy: ({ target }) =>
            Effect.sync(() => {
              deployed.push(target)
              return `${target} is live`
            })
        })
      )
    )
  )

/** Waits (real time) until the task is suspended. */
const suspended = (handle: TaskHandle<unknown, unknown>) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if ((yield* handle.status) === "suspended") return
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`task ${handle.id} never suspended`))
  })

describe.each(stores)("tool approvals on %s", (_name, store) => {
  it.live("suspends on a tool that needs approval, lists it, and on approval runs the tool once and goes on", () =>
    withModel(store, (runtime, model, deployed) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(operator(deployed), "staging")
        yield* suspended(handle)
        const waiting = yield* Approvals.pending(handle.id)
        assert.strictEqual(waiting.length, 1)
        assert.deepStrictEqual(
          { tool: waiting[0]?.tool, params: waiting[0]?.params, call: waiting[0]?.call },
          { tool: "deploy", params: { target: "staging" }, call: 0 }
        )
        assert.deepStrictEqual(deployed, [])
        const record = yield* handle.info
        assert.strictEqual(record.suspendReason?._tag, "WaitingForSignal")
        yield* Approvals.decide(runtime, handle.id, waiting[0]?.approvalId ?? "", { approved: true })
        assert.strictEqual(yield* handle.await, 'done (deploy:"staging is live")')
        assert.deepStrictEqual(deployed, ["staging"])
        assert.strictEqual((yield* model.requests).length, 2)
        assert.deepStrictEqual(yield* Approvals.pending(handle.id), [])
      })
    )
  )

  it.live("on a denial never runs the tool, and tells the model it was denied", () =>
    withModel(store, (runtime, model, deployed) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(operator(deployed), "production")
        yield* suspended(handle)
        const [waiting] = yield* Approvals.pending(handle.id)
        yield* Approvals.decide(runtime, handle.id, waiting?.approvalId ?? "", { approved: false, reason: "freeze" })
        assert.strictEqual(yield* handle.await, "done (deploy:denied)")
        assert.deepStrictEqual(deployed, [])
        assert.strictEqual((yield* model.requests).length, 2)
      })
    )
  )

  it.live("lists the approvals a run tree waits for, with the task that asks each", () =>
    withModel(store, (runtime, _model, deployed) =>
      Effect.gen(function* () {
        const op = operator(deployed)
        const release = task(
          { name: "release", input: Schema.Array(Schema.String), output: Schema.String },
          (targets) =>
            Effect.map(Children.all(targets.map((target) => Children.spec(op, target, { key: target }))), (outputs) =>
              outputs.join("; ")
            )
        )
        const handle = yield* runtime.submit(release, ["eu", "us"])
        yield* suspended(handle)
        let waiting = yield* Approvals.pendingInTree(handle.id)
        for (let i = 0; i < 500 && waiting.length < 2; i++) {
          yield* Effect.sleep("10 millis")
          waiting = yield* Approvals.pendingInTree(handle.id)
        }
        assert.deepStrictEqual(waiting.map((approval) => approval.params).sort(), [{ target: "eu" }, { target: "us" }])
        assert.isTrue(waiting.every((approval) => approval.taskId !== handle.id))
        for (const approval of waiting) {
          yield* Approvals.decide(runtime, approval.taskId, approval.approvalId, { approved: true })
        }
        assert.strictEqual(yield* handle.await, 'done (deploy:"eu is live"); done (deploy:"us is live")')
        assert.deepStrictEqual([...deployed].sort(), ["eu", "us"])
      })
    )
  )
})
