/**
 * The README's examples, as they are written there, compiled and run: the last test checks that every line of every
 * TypeScript block of README.md stands, in order, in this file or in test/types/readme*.ts (imports aside), so a
 * change to either shows here.
 */
import { readdirSync, readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, assert, beforeEach, describe, it, vi } from "@effect/vitest"
import { Context, DateTime, Effect, Layer, Option, Schedule, Schema } from "effect"
import { LanguageModel, Tool, Toolkit } from "effect/ai"
import { TestClock } from "effect/testing"
import { Hono } from "hono"
import { Approvals, ModelCalls, ModelUsage } from "../src/ai.ts"
import { makeApp } from "../src/http.ts"
import {
  Children,
  FileStorageBackend,
  MemoryStorageBackend,
  MemoryStore,
  MemoryTaskStore,
  pause,
  plugin,
  RunTree,
  Runtime,
  StateManager,
  StatePlugin,
  step,
  TaskInfo,
  TaskState,
  TreeCheckpoints,
  task,
  waitForSignal
} from "../src/index.ts"
import { ScriptedModel } from "../src/testing.ts"

// What the README's programs print.
let printed: Array<unknown> = []
beforeEach(() => {
  printed = []
  vi.spyOn(console, "log").mockImplementation((value: unknown) => {
    printed.push(value)
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

const resize = task(
  {
    name: "resize",
    input: Schema.Struct({ url: Schema.String, width: Schema.Int }),
    retry: Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 3 })),
    timeout: "1 minute"
  },
  ({ url, width }) =>
    Effect.gen(function* () {
      const { id, attempt } = yield* TaskInfo
      return `${url}@${width}px (task ${id}, attempt ${attempt})`
    })
)

const quickStart = () => {
  const program = Effect.gen(function* () {
    const runtime = yield* Runtime.make()
    const handle = yield* runtime.submit(resize, { url: "https://example.com/a.png", width: 320 })
    console.log(yield* handle.await)
  }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))

  return Effect.runPromise(program)
}

const processFiles = task({ name: "process-files", input: Schema.Array(Schema.String) }, (files) =>
  Effect.gen(function* () {
    const state = yield* TaskState
    const done = yield* state.getOr("done", 0) // a number: 5 after the first pause, so it resumes at file 6
    for (let i = done; i < files.length; i++) {
      yield* Effect.log(`processing ${files[i]}`)
      yield* state.set("done", i + 1) // in the store before the call returns
      if ((i + 1) % 5 === 0 && i + 1 < files.length) yield* pause({ delay: "1 second" })
    }
    return files.length
  })
)

const reserve = task({ name: "reserve", input: Schema.Number }, (count) =>
  Effect.gen(function* () {
    const basket = (yield* TaskState).scope("session")
    return yield* basket.modify("reserved", (current) => Number(Option.getOrElse(current, () => 0)) + count)
  })
)

const total = task({ name: "total", input: Schema.Void }, () =>
  Effect.flatMap(TaskState, (state) => state.scope("session").getOr("reserved", 0))
)

const shop = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
  const session = runtime.session("basket-42")
  yield* Effect.all([session.run(reserve, 2), session.run(reserve, 3)], { concurrency: "unbounded" })
  console.log(yield* session.run(total, undefined)) // 5
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

const runShop = () => Effect.runPromise(shop)

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const publish = task({ name: "publish", input: Schema.String, signals: { approval: Approval } }, (draft) =>
  Effect.gen(function* () {
    const summary = yield* step("summarise", Effect.succeed(draft.slice(0, 100))) // not run again on resume
    const { approved, by } = yield* waitForSignal("approval", Approval, { timeout: "2 days" })
    return approved ? `published by ${by}: ${summary}` : "rejected"
  })
)

const humanApproval = () => {
  const program = Effect.gen(function* () {
    const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
    const handle = yield* runtime.submit(publish, "A long draft...")
    yield* handle.signal("approval", { approved: true, by: "ada" }) // a bad payload fails with SignalRejected
    console.log(yield* handle.await)
  }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

  return Effect.runPromise(program)
}

const research = task(
  { name: "research", input: Schema.String, output: Schema.String },
  (topic) => Effect.succeed(`notes on ${topic}`) // an agent: model calls, tools, children of its own
)

const supervise = task({ name: "supervise", input: Schema.Array(Schema.String), output: Schema.String }, (topics) =>
  Effect.gen(function* () {
    const notes = yield* Children.all(
      topics.map((topic) => Children.spec(research, topic, { key: topic })),
      { concurrency: 8 } // at most 8 researchers at once, across processes; the rest wait in the store
    )
    return notes.join("\n")
  })
)

const team = Effect.gen(function* () {
  const runtime = yield* Runtime.make()
  console.log(yield* runtime.run(supervise, ["sky", "sea"])) // notes on sky, then notes on sea
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

const runTeam = () => Effect.runPromise(team)

const showTeam = (rootId: string) =>
  Effect.gen(function* () {
    const tree = yield* RunTree.read(rootId) // the task and every task under it, read at one instant
    for (const node of tree.nodes) console.log(`${node.path}: ${node.status}`) // supervise: completed, ...
    const manager = yield* StateManager
    return yield* manager.saveBranchSnapshot(TreeCheckpoints.branchSnapshot(tree)) // saved under the root's session
  })

class Model extends Context.Service<Model, { readonly complete: (prompt: string) => Effect.Effect<string> }>()(
  "app/Model"
) {}

// built for each run of a task; a real one would call a model's API here
const models = plugin({
  name: "model",
  layer: Layer.succeed(Model, Model.of({ complete: (prompt) => Effect.succeed(`an answer to ${prompt}`) }))
})

const answer = task({ name: "answer", input: Schema.String, output: Schema.String }, (question) =>
  Effect.gen(function* () {
    const model = yield* Model // a task without `models` in its runtime does not compile
    return yield* model.complete(question)
  })
)

const asking = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [models] })
  console.log(yield* runtime.run(answer, "why is the sky blue?"))
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

const runAsking = () => Effect.runPromise(asking)

const cleanUp = Effect.gen(function* () {
  const manager = yield* StateManager
  const cutoff = DateTime.subtract(yield* DateTime.now, { days: 30 })
  return yield* manager.deleteSessionsOlderThan(cutoff) // how many it removed
})

// the records go to one folder, such as ".agents"
const orchestrate = (directory: string) =>
  Effect.gen(function* () {
    const manager = yield* StateManager
    yield* manager.saveSession("research-1", { question: "why is the sky blue?" })
    yield* manager.saveBranchSnapshot({
      sessionId: "research-1",
      branches: { planner: { step: 2 }, searcher: { queries: 3 }, writer: {} },
      activeBranches: ["searcher"],
      completedBranches: ["planner"],
      waiting: { writer: ["searcher"] },
      results: { planner: ["search", "write"] },
      children: { planner: ["searcher", "writer"] },
      parents: { searcher: "planner", writer: "planner" },
      metadata: { model: "any" }
    })
    const checkpoint = yield* manager.createCheckpoint("research-1", "after-planning")
    return yield* manager.restoreCheckpoint(checkpoint) // a damaged record fails with SnapshotCorrupted
  }).pipe(Effect.provide(StateManager.layer()), Effect.provide(FileStorageBackend.layer({ directory })))

/** The TypeScript blocks of README.md, each as its lines. */
// Model calls: the scripted model stands for a provider's layer
const YourProvider = {
  layer: ScriptedModel.layer((request) =>
    request.tools.length === 0
      ? { text: "deploy billing", usage: { inputTokens: 12, outputTokens: 3 }, modelId: "gpt-4.1-mini" }
      : request.prompt.content.some((message) => message.role === "tool")
        ? { text: "billing is live", usage: { inputTokens: 30, outputTokens: 4 }, modelId: "gpt-4.1-mini" }
        : { toolCalls: [{ name: "deploy", params: { service: "billing" } }], modelId: "gpt-4.1-mini" }
  )
}

const Deploy = Tool.make("deploy", {
  parameters: Schema.Struct({ service: Schema.String }),
  success: Schema.String,
  needsApproval: true // the task suspends until someone decides, from any process
})
const ops = Toolkit.make(Deploy)

const operator = task(
  { name: "operator", input: Schema.String, output: Schema.String, budget: { calls: 20, cost: 0.5 } },
  (request) =>
    Effect.gen(function* () {
      const plan = yield* LanguageModel.generateText({ prompt: `Plan: ${request}` }) // paid once, whatever happens
      const done = yield* LanguageModel.generateText({ prompt: plan.text, toolkit: yield* ops })
      return done.text
    }).pipe(Effect.provide(ops.toLayer({ deploy: ({ service }) => Effect.succeed(`${service} is live`) })))
)

const prices = { "gpt-4.1-mini": { inputPerMillion: 0.4, outputPerMillion: 1.6 } }

const operate = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make(), ModelCalls.make({ prices })] })
  const handle = yield* runtime.submit(operator, "ship the billing service")
  const waiting = { until: (status: string) => status === "suspended", schedule: Schedule.spaced("100 millis") }
  yield* Effect.repeat(handle.status, waiting) // until it waits for a decision
  for (const approval of yield* Approvals.pending(handle.id)) {
    yield* Approvals.decide(runtime, handle.id, approval.approvalId, { approved: true })
  }
  console.log(yield* handle.await)
  console.log((yield* ModelUsage.ofTask(handle.id)).calls) // 3: the plan, the tool call, the answer after it
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer), Effect.provide(YourProvider.layer))

const readmeBlocks = (): ReadonlyArray<ReadonlyArray<string>> => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8")
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => (match[1] ?? "").split("\n"))
}

describe("README", () => {
  it.live("quick start", () =>
    Effect.gen(function* () {
      yield* Effect.promise(quickStart)
      assert.match(String(printed[0]), /^https:\/\/example.com\/a.png@320px \(task .*, attempt 1\)$/)
    })
  )

  it.effect("a handle answers what a future does", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const failing = task({ name: "failing", input: Schema.Void }, () => Effect.fail("no"))
      const handle = yield* runtime.submit(failing, undefined)
      const status = yield* handle.status // "pending" | "running" | "suspended" | "completed" | "failed" | "cancelled"
      const { error } = yield* handle.info // the stored { tag, message } of a failed task
      const exit = yield* Effect.exit(handle.await) // waits: the output, or the body's own typed error
      assert.strictEqual(status, "failed")
      assert.deepStrictEqual(error, { tag: "UnknownError", message: "no" })
      assert.deepStrictEqual(exit._tag, "Failure")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a resumable function: 8 files, a pause after 5", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      const handle = yield* runtime.submit(processFiles, ["1", "2", "3", "4", "5", "6", "7", "8"])
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* handle.await, 8)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.live("state shared by the tasks of a session, updated concurrently", () =>
    Effect.gen(function* () {
      yield* Effect.promise(runShop)
      assert.deepStrictEqual(printed, [5])
    })
  )

  it.live("a supervisor fans out to researchers and joins their notes", () =>
    Effect.gen(function* () {
      yield* Effect.promise(runTeam)
      assert.deepStrictEqual(printed, ["notes on sky\nnotes on sea"])
    })
  )

  it.effect("a run read as a tree, and its branch snapshot saved", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(supervise, ["sky", "sea"])
      yield* handle.await
      const saved = yield* showTeam(handle.id)
      assert.deepStrictEqual(printed, ["supervise: completed", "supervise/sky: completed", "supervise/sea: completed"])
      assert.deepStrictEqual(saved.completedBranches, ["supervise", "supervise/sky", "supervise/sea"])
    }).pipe(
      Effect.scoped,
      Effect.provide(
        Layer.merge(MemoryStore.layer, StateManager.layer().pipe(Layer.provide(MemoryStorageBackend.layer)))
      )
    )
  )

  it.live("a service of one's own, given to tasks by a plugin", () =>
    Effect.gen(function* () {
      yield* Effect.promise(runAsking)
      assert.deepStrictEqual(printed, ["an answer to why is the sky blue?"])
    })
  )

  it.live("a human approval", () =>
    Effect.gen(function* () {
      yield* Effect.promise(humanApproval)
      assert.deepStrictEqual(printed, ["published by ada: A long draft..."])
    })
  )

  it.live("the HTTP adapter mounted in a Hono app answers its routes", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      const parent = new Hono()
      parent.route("/waypoint", yield* makeApp({ runtime, tasks: [publish] }))
      const health = yield* Effect.promise(() => Promise.resolve(parent.request("/waypoint/health")))
      assert.strictEqual(health.status, 200)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.live("branch snapshots and checkpoints of a multi-agent session", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-readme-")))
      const restored = yield* orchestrate(dir).pipe(Effect.ensuring(Effect.promise(() => rm(dir, { recursive: true }))))
      assert.deepStrictEqual(restored, { question: "why is the sky blue?" })
      // the file layout the README describes
      const files = yield* Effect.promise(async () => {
        const again = await mkdtemp(join(tmpdir(), "waypoint-readme-"))
        await Effect.runPromise(
          Effect.flatMap(StateManager, (manager) => manager.saveSession("research-1", {})).pipe(
            Effect.provide(StateManager.layer()),
            Effect.provide(FileStorageBackend.layer({ directory: again }))
          )
        )
        const names = readdirSync(again)
        await rm(again, { recursive: true })
        return names
      })
      assert.deepStrictEqual(files, ["sessions%2Fresearch-1"])
    })
  )

  it.effect("removes sessions not saved for 30 days", () =>
    Effect.gen(function* () {
      const manager = yield* StateManager
      yield* manager.saveSession("old", { n: 1 })
      yield* TestClock.adjust("31 days")
      yield* manager.saveSession("recent", { n: 2 })
      assert.strictEqual(yield* cleanUp, 1)
      assert.deepStrictEqual(yield* manager.listSessions(), ["recent"])
    }).pipe(Effect.provide(StateManager.layer()), Effect.provide(MemoryStorageBackend.layer))
  )

  it.live("an agent whose model calls are recorded, whose tool waits for an approval, within a budget", () =>
    Effect.gen(function* () {
      yield* operate
      assert.deepStrictEqual(printed, ["billing is live", 3])
    })
  )

  it("has every line of its TypeScript examples here or in test/types/readme*.ts, in order", () => {
    const types = new URL("types/", import.meta.url)
    const sources = [
      readFileSync(new URL(import.meta.url), "utf8"),
      readFileSync(new URL("testing/readmeExample.test.ts", import.meta.url), "utf8"),
      ...readdirSync(types)
        .filter((name) => name.startsWith("readme"))
        .map((name) => readFileSync(new URL(name, types), "utf8"))
    ]
    const haystack = sources.join("\n").split("\n")
    for (const block of readmeBlocks()) {
      let at = 0
      for (const line of block) {
        const needle = line.trim()
        if (needle === "" || needle.startsWith("import ")) continue
        const found = haystack.findIndex((candidate, index) => index >= at && candidate.includes(needle))
        assert.isAtLeast(found, 0, `README line not found (after line ${at} of the tests): ${needle}`)
        at = found + 1
      }
    }
  })
})
