import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import { Approvals } from "../../../src/ai.ts"
import { Children, type TaskHandle, task } from "../../../src/index.ts"
import type { ScriptedModel, ScriptedRequest } from "../../../src/testing/index.ts"
import { stores, withModel } from "./fixtures.ts"

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

/** `withModel` over the deploying script, with the list of what was deployed. */
const withDeploys = <A, E>(
  store: Parameters<typeof withModel>[0],
  f: (
    runtime: Parameters<Parameters<typeof withModel<A, E>>[2]>[0],
    model: ScriptedModel.ScriptedModel,
    deployed: Array<string>
  ) => ReturnType<Parameters<typeof withModel<A, E>>[2]>
) => withModel(store, script, (runtime, model) => f(runtime, model, []))

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
    withDeploys(store, (runtime, model, deployed) =>
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
    withDeploys(store, (runtime, model, deployed) =>
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
    withDeploys(store, (runtime, _model, deployed) =>
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
