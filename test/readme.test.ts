/**
 * The README's examples, as they are written there, compiled and run: if this file breaks, so does the README.
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Hono } from "hono"
import { makeApp } from "../src/http.ts"
import {
  FileStorageBackend,
  MemoryStore,
  MemoryTaskStore,
  pause,
  Runtime,
  StateManager,
  StatePlugin,
  step,
  TaskInfo,
  TaskState,
  task,
  waitForSignal
} from "../src/index.ts"

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

const processFiles = task({ name: "process-files", input: Schema.Array(Schema.String) }, (files) =>
  Effect.gen(function* () {
    const state = yield* TaskState
    const done = Number(yield* state.getOr("done", 0)) // 5 after the first pause: resumes at file 6
    for (let i = done; i < files.length; i++) {
      yield* Effect.log(`processing ${files[i]}`)
      yield* state.set("done", i + 1) // in the store before the call returns
      if ((i + 1) % 5 === 0 && i + 1 < files.length) yield* pause({ delay: "1 second" })
    }
    return files.length
  })
)

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const publish = task({ name: "publish", input: Schema.String, signals: { approval: Approval } }, (draft) =>
  Effect.gen(function* () {
    const summary = yield* step("summarise", Effect.succeed(draft.slice(0, 100))) // not run again on resume
    const { approved, by } = yield* waitForSignal("approval", Approval, { timeout: "2 days" })
    return approved ? `published by ${by}: ${summary}` : "rejected"
  })
)

describe("README", () => {
  it.effect("quick start", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(resize, { url: "https://example.com/a.png", width: 320 })
      assert.match(yield* handle.await, /^https:\/\/example.com\/a.png@320px \(task .*, attempt 1\)$/)
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

  it.effect("a human approval", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      const handle = yield* runtime.submit(publish, "A long draft...")
      yield* handle.signal("approval", { approved: true, by: "ada" }) // a bad payload fails with SignalRejected
      assert.strictEqual(yield* handle.await, "published by ada: A long draft...")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
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
      const orchestrate = Effect.gen(function* () {
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
      }).pipe(Effect.provide(StateManager.layer()), Effect.provide(FileStorageBackend.layer({ directory: dir })))
      const restored = yield* orchestrate.pipe(Effect.ensuring(Effect.promise(() => rm(dir, { recursive: true }))))
      assert.deepStrictEqual(restored, { question: "why is the sky blue?" })
    })
  )
})
