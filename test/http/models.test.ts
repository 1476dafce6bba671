import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, type Layer, Schema, type Scope, Stream } from "effect"
import { LanguageModel, type Prompt, Tool, Toolkit } from "effect/ai"
import type { Hono } from "hono"
import { ModelCalls } from "../../src/ai.ts"
import { makeApp } from "../../src/http.ts"
import { Children, type MemoryStore, Runtime, StatePlugin, type TaskHandle, task } from "../../src/index.ts"
import { type Script, ScriptedModel, type ScriptedRequest } from "../../src/testing/index.ts"
import {
  dataOf,
  expectProblem,
  postJson,
  readJson,
  request,
  type SseFrame,
  sseReader,
  withApp,
  withEveryStore
} from "./fixtures.ts"

type Json = Record<string, unknown>
type Stores = Layer.Success<typeof MemoryStore.layer>

const prices = { "model-a": { inputPerMillion: 3, outputPerMillion: 15, cachedInputPerMillion: 0.3 } }

const TOKEN = "models-test-token-0123456789"

interface ModelEnv {
  readonly app: Hono
  readonly runtime: Runtime.Runtime<
    LanguageModel.LanguageModel | Layer.Success<ReturnType<typeof StatePlugin.make>["layer"]>
  >
  readonly model: ScriptedModel.ScriptedModel
}

/**
 * An app over a runtime on fresh memory stores, with the state and model-call plugins and the scripted model, as
 * `test/plugins/models/Approvals.test.ts` builds its runtime.
 */
const withModelApp = <A, E>(
  script: Script,
  f: (env: ModelEnv) => Effect.Effect<A, E, Scope.Scope | Stores>,
  options: { readonly auth?: { readonly bearer: string } } = {}
) =>
  withEveryStore(
    Effect.gen(function* () {
      const model = yield* ScriptedModel.make(script)
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make(), ModelCalls.make({ prices })] }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, model.service)
      )
      const app = yield* makeApp({ runtime, tasks: [], auth: options.auth })
      return yield* f({ app, runtime, model })
    })
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

const items = (body: Json) => body.items as ReadonlyArray<Json>

// --- usage ---

/** Each prompt's usage and model: "b" runs on a model the price table does not know (it costs 0). */
const usageScript = (request: ScriptedRequest) => {
  switch (request.lastUserText) {
    case "root":
      return { text: "r", usage: { inputTokens: 100, outputTokens: 10, cachedTokens: 40 }, modelId: "model-a" }
    case "a":
      return { text: "A", usage: { inputTokens: 10, outputTokens: 2 }, modelId: "model-a" }
    default:
      return { text: "B", usage: { inputTokens: 20, outputTokens: 5, cachedTokens: 5 }, modelId: "model-free" }
  }
}

const ask = task({ name: "ask", input: Schema.String, output: Schema.String }, (prompt) =>
  Effect.map(LanguageModel.generateText({ prompt }), (response) => response.text)
)

/** Asks once itself, then has a child ask each prompt. Its body runs again after the join: the call is replayed. */
const fanOut = task(
  { name: "fan-out", input: Schema.Array(Schema.String), output: Schema.Array(Schema.String) },
  (prompts) =>
    Effect.gen(function* () {
      const own = yield* LanguageModel.generateText({ prompt: "root" })
      const answers = yield* Children.all(prompts.map((prompt) => Children.spec(ask, prompt, { key: prompt })))
      return [own.text, ...answers]
    })
)

const quiet = task({ name: "quiet", input: Schema.Void, output: Schema.String }, () => Effect.succeed("no calls"))

const totals = (calls: number, input: number, output: number, cached: number, costNanos: number) => ({
  calls,
  inputTokens: input,
  outputTokens: output,
  cachedTokens: cached,
  costNanos,
  cost: costNanos / 1e9
})

// --- approvals ---

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
const approvalScript = (request: ScriptedRequest) => {
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

const decide = (app: Hono, taskId: string, approvalId: string, body: unknown, headers?: Record<string, string>) =>
  postJson(app, `/tasks/${taskId}/approvals/${encodeURIComponent(approvalId)}`, body, headers)

describe("HTTP: model usage", () => {
  it.live("answers a task's usage and a tree's, total and by task, with exact tokens and costs", () =>
    withModelApp(usageScript, ({ app, runtime, model }) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(fanOut, ["a", "b"])
        assert.deepStrictEqual(yield* handle.await, ["r", "A", "B"])
        assert.strictEqual((yield* model.requests).length, 3, "the root's call was replayed, not made again")

        // 60 uncached input tokens at $3, 40 cached at $0.30, 10 output at $15 (per million): 342000 nano-dollars
        const root = totals(1, 100, 10, 40, 342_000)
        const a = totals(1, 10, 2, 0, 60_000)
        const b = totals(1, 20, 5, 5, 0)
        const own = yield* request(app, `/tasks/${handle.id}/usage`)
        assert.strictEqual(own.status, 200)
        assert.deepStrictEqual(yield* readJson(own), root)

        const tree = yield* readJson(yield* request(app, `/tasks/${handle.id}/tree`))
        const ids = (tree.nodes as ReadonlyArray<Json>).map((node) => String(node.id))
        assert.strictEqual(ids.length, 3)
        const usage = yield* request(app, `/tasks/${handle.id}/tree/usage`)
        assert.strictEqual(usage.status, 200)
        assert.deepStrictEqual(yield* readJson(usage), {
          rootId: handle.id,
          total: totals(3, 130, 17, 45, 402_000),
          byTask: [
            { taskId: ids[0], ...root },
            { taskId: ids[1], ...a },
            { taskId: ids[2], ...b }
          ]
        })
        // the tree under a child is that child alone
        assert.deepStrictEqual(yield* readJson(yield* request(app, `/tasks/${ids[1]}/tree/usage`)), {
          rootId: ids[1],
          total: a,
          byTask: [{ taskId: ids[1], ...a }]
        })

        // a task that made no call: zeros, and a tree with no task in it
        const none = yield* runtime.submit(quiet, undefined)
        yield* none.await
        assert.deepStrictEqual(yield* readJson(yield* request(app, `/tasks/${none.id}/usage`)), totals(0, 0, 0, 0, 0))
        assert.deepStrictEqual(yield* readJson(yield* request(app, `/tasks/${none.id}/tree/usage`)), {
          rootId: none.id,
          total: totals(0, 0, 0, 0, 0),
          byTask: []
        })
      })
    )
  )

  it.live("answers 404 for the usage of an unknown task", () =>
    withModelApp(usageScript, ({ app }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* request(app, "/tasks/nobody/usage"), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, "/tasks/nobody/tree/usage"), 404, "TaskNotFound")
      })
    )
  )
})

describe("HTTP: tool approvals", () => {
  it.live("lists a task's pending approval; approving it through HTTP runs the tool once and the task completes", () =>
    withModelApp(approvalScript, ({ app, runtime, model }) =>
      Effect.gen(function* () {
        const deployed: Array<string> = []
        const handle = yield* runtime.submit(operator(deployed), "staging")
        yield* suspended(handle)
        const listed = yield* request(app, `/tasks/${handle.id}/approvals`)
        assert.strictEqual(listed.status, 200)
        const waiting = items(yield* readJson(listed))
        assert.strictEqual(waiting.length, 1)
        const approvalId = String(waiting[0]?.approvalId)
        assert.isNotEmpty(approvalId)
        assert.deepStrictEqual(waiting[0], {
          taskId: handle.id,
          approvalId,
          toolCallId: "call-0-0",
          tool: "deploy",
          params: { target: "staging" },
          call: 0
        })
        // the tree under the task lists the same
        assert.deepStrictEqual(
          items(yield* readJson(yield* request(app, `/tasks/${handle.id}/tree/approvals`))),
          waiting
        )
        assert.deepStrictEqual(deployed, [])

        const answer = yield* decide(app, handle.id, approvalId, { approved: true })
        assert.strictEqual(answer.status, 202)
        assert.strictEqual(yield* Effect.promise(() => answer.text()), "")
        assert.strictEqual(yield* handle.await, 'done (deploy:"staging is live")')
        assert.deepStrictEqual(deployed, ["staging"])
        assert.strictEqual((yield* model.requests).length, 2)
        assert.deepStrictEqual(items(yield* readJson(yield* request(app, `/tasks/${handle.id}/approvals`))), [])

        // the task has ended: a decision is a conflict, as a signal to it is
        const late = yield* expectProblem(
          yield* decide(app, handle.id, approvalId, { approved: false }),
          409,
          "TaskEnded"
        )
        assert.include(String(late.detail), "completed")
        assert.deepStrictEqual(deployed, ["staging"])
      })
    )
  )

  it.live("denies through HTTP: the tool never runs and the model is told", () =>
    withModelApp(approvalScript, ({ app, runtime, model }) =>
      Effect.gen(function* () {
        const deployed: Array<string> = []
        const handle = yield* runtime.submit(operator(deployed), "production")
        yield* suspended(handle)
        const [waiting] = items(yield* readJson(yield* request(app, `/tasks/${handle.id}/approvals`)))
        const answer = yield* decide(app, handle.id, String(waiting?.approvalId), { approved: false, reason: "freeze" })
        assert.strictEqual(answer.status, 202)
        assert.strictEqual(yield* handle.await, "done (deploy:denied)")
        assert.deepStrictEqual(deployed, [])
        assert.strictEqual((yield* model.requests).length, 2)
      })
    )
  )

  it.live("refuses a bad body with 400 and an approval the task does not wait for with 404, delivering nothing", () =>
    withModelApp(approvalScript, ({ app, runtime }) =>
      Effect.gen(function* () {
        const deployed: Array<string> = []
        const handle = yield* runtime.submit(operator(deployed), "staging")
        yield* suspended(handle)
        const [waiting] = items(yield* readJson(yield* request(app, `/tasks/${handle.id}/approvals`)))
        const approvalId = String(waiting?.approvalId)
        for (const body of [{ approved: "yes" }, {}, { approved: true, reason: 7 }, "{not json", [true]]) {
          const problem = yield* expectProblem(yield* decide(app, handle.id, approvalId, body), 400, "InvalidRequest")
          assert.isString(problem.detail)
        }
        const unknown = yield* expectProblem(
          yield* decide(app, handle.id, "no-such-approval", { approved: true }),
          404,
          "ApprovalNotFound"
        )
        assert.strictEqual(unknown.type, "urn:effect-waypoint:problem:ApprovalNotFound")
        assert.include(String(unknown.detail), "no-such-approval")
        yield* expectProblem(yield* decide(app, "nobody", approvalId, { approved: true }), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, "/tasks/nobody/approvals"), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, "/tasks/nobody/tree/approvals"), 404, "TaskNotFound")
        // nothing was delivered: the task still waits for the same approval
        assert.strictEqual(yield* handle.status, "suspended")
        assert.deepStrictEqual(
          items(yield* readJson(yield* request(app, `/tasks/${handle.id}/approvals`))).map((item) => item.approvalId),
          [approvalId]
        )
        yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* handle.status, "suspended")
        assert.deepStrictEqual(deployed, [])
        // and goes on with a good decision
        assert.strictEqual((yield* decide(app, handle.id, approvalId, { approved: true })).status, 202)
        assert.strictEqual(yield* handle.await, 'done (deploy:"staging is live")')
      })
    )
  )

  it.live("lists the approvals a run tree waits for, each with its task, and each decided through HTTP", () =>
    withModelApp(approvalScript, ({ app, runtime }) =>
      Effect.gen(function* () {
        const deployed: Array<string> = []
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
        const path = `/tasks/${handle.id}/tree/approvals`
        let waiting = items(yield* readJson(yield* request(app, path)))
        for (let i = 0; i < 500 && waiting.length < 2; i++) {
          yield* Effect.sleep("10 millis")
          waiting = items(yield* readJson(yield* request(app, path)))
        }
        assert.deepStrictEqual(waiting.map((approval) => approval.params).sort(), [{ target: "eu" }, { target: "us" }])
        const tree = yield* readJson(yield* request(app, `/tasks/${handle.id}/tree`))
        const children = (tree.nodes as ReadonlyArray<Json>).slice(1).map((node) => node.id)
        assert.sameMembers(
          waiting.map((approval) => approval.taskId),
          children
        )
        // the root itself waits for none, and an approval of a child is not the root's to decide
        assert.deepStrictEqual(items(yield* readJson(yield* request(app, `/tasks/${handle.id}/approvals`))), [])
        yield* expectProblem(
          yield* decide(app, handle.id, String(waiting[0]?.approvalId), { approved: true }),
          404,
          "ApprovalNotFound"
        )
        for (const approval of waiting) {
          const answer = yield* decide(app, String(approval.taskId), String(approval.approvalId), { approved: true })
          assert.strictEqual(answer.status, 202)
        }
        assert.strictEqual(yield* handle.await, 'done (deploy:"eu is live"); done (deploy:"us is live")')
        assert.deepStrictEqual([...deployed].sort(), ["eu", "us"])
        assert.deepStrictEqual(items(yield* readJson(yield* request(app, path))), [])
      })
    )
  )
})

describe("HTTP: model routes' access and services", () => {
  it.live("answer 401 without the bearer token", () =>
    withModelApp(
      approvalScript,
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const handle = yield* runtime.submit(quiet, undefined)
          yield* handle.await
          const paths = ["usage", "tree/usage", "approvals", "tree/approvals"].map(
            (end) => `/tasks/${handle.id}/${end}`
          )
          for (const path of paths) {
            yield* expectProblem(yield* request(app, path), 401, "Unauthorized")
            const allowed = yield* request(app, path, { headers: { authorization: `Bearer ${TOKEN}` } })
            assert.strictEqual(allowed.status, 200, path)
            yield* Effect.promise(() => allowed.arrayBuffer())
          }
          yield* expectProblem(yield* decide(app, handle.id, "x", { approved: true }), 401, "Unauthorized")
          yield* expectProblem(
            yield* decide(app, handle.id, "x", { approved: true }, { authorization: `Bearer ${TOKEN}` }),
            409,
            "TaskEnded"
          )
        }),
      { auth: { bearer: TOKEN } }
    )
  )

  it.effect("answer 501 when the app was built without a StepStore", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        for (const path of ["/tasks/any/usage", "/tasks/any/tree/usage", "/tasks/any/approvals"]) {
          const problem = yield* expectProblem(yield* request(app, path), 501, "ServiceNotConfigured")
          assert.include(String(problem.detail), "StepStore")
        }
        yield* expectProblem(yield* decide(app, "any", "x", { approved: true }), 501, "ServiceNotConfigured")
      })
    )
  )
})

describe("HTTP: a streamed model call's events", () => {
  it.live("reach an SSE client of GET /tasks/{id}/events: each delta, then the recorded call with its usage", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const started = yield* Deferred.make<void>()
      const tell = task({ name: "tell", input: Schema.String, output: Schema.String }, (prompt) =>
        Effect.gen(function* () {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(gate)
          const parts = yield* Stream.runCollect(LanguageModel.streamText({ prompt }))
          return parts.map((part) => (part.type === "text-delta" ? part.delta : "")).join("")
        })
      )
      yield* withModelApp(
        [{ deltas: ["Once ", "upon ", "a time"], usage: { inputTokens: 4, outputTokens: 3 }, modelId: "model-a" }],
        ({ app, runtime }) =>
          Effect.gen(function* () {
            const handle = yield* runtime.submit(tell, "a story")
            yield* Deferred.await(started)
            const stream = sseReader(yield* request(app, `/tasks/${handle.id}/events`))
            assert.deepStrictEqual(yield* stream.next, { comment: "connected" })
            const first = yield* stream.nextEvent
            assert.strictEqual(dataOf(first).status, "running")
            yield* Deferred.succeed(gate, undefined)
            const frames: Array<SseFrame> = [first!, ...(yield* stream.rest)]
            assert.strictEqual(yield* handle.await, "Once upon a time")

            const deltas = frames.filter((frame) => frame.event === "ModelTextDelta").map(dataOf)
            assert.deepStrictEqual(
              deltas.map((data) => data.delta),
              ["Once ", "upon ", "a time"]
            )
            for (const data of deltas) {
              assert.strictEqual(data._tag, "ModelTextDelta")
              assert.strictEqual(data.taskId, handle.id)
              assert.strictEqual(data.taskName, "tell")
              assert.strictEqual(data.call, 0)
              assert.match(String(data.at), /^\d{4}-\d\d-\d\dT/)
            }
            const recorded = frames.filter((frame) => frame.event === "ModelCallRecorded").map(dataOf)
            assert.strictEqual(recorded.length, 1)
            assert.deepInclude(recorded[0] as Json, { taskId: handle.id, call: 0 })
            assert.deepInclude(recorded[0]?.usage as Json, {
              model: "model-a",
              inputTokens: 4,
              outputTokens: 3,
              cachedTokens: 0,
              costNanos: 4 * 3000 + 3 * 15000
            })
            // in order: the deltas, then the record, then the final status; each id its seq
            assert.deepStrictEqual(
              frames.map((frame) => (frame.event === "StatusChanged" ? dataOf(frame).status : frame.event)),
              ["running", "ModelTextDelta", "ModelTextDelta", "ModelTextDelta", "ModelCallRecorded", "completed"]
            )
            for (const frame of frames) assert.strictEqual(frame.id, String(dataOf(frame).seq))
          })
      )
    })
  )
})
