import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Schema } from "effect"
import { Hono } from "hono"
import { makeApp, serveNode } from "../../src/http.ts"
import { MemoryTaskStore, Runtime, task } from "../../src/index.ts"
import { dataOf, sseReader } from "./fixtures.ts"

const slow = task({ name: "slow", input: Schema.Struct({ millis: Schema.Number }) }, ({ millis }) =>
  Effect.as(Effect.sleep(millis), "done")
)

const fetchEffect = (url: string, init?: RequestInit) => Effect.promise(() => fetch(url, init))

describe("serveNode", () => {
  it.live("serves a start and its event stream on a real loopback port, then closes", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [slow] })
      const server = yield* serveNode(app, { port: 0 })
      assert.strictEqual(server.hostname, "127.0.0.1")
      assert.isAbove(server.port, 0)
      assert.strictEqual(server.url, `http://127.0.0.1:${server.port}`)

      const started = yield* fetchEffect(`${server.url}/tasks/slow`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ millis: 50 })
      })
      assert.strictEqual(started.status, 201)
      const { id } = (yield* Effect.promise(() => started.json())) as { id: string }
      const stream = sseReader(yield* fetchEffect(`${server.url}/tasks/${id}/events`))
      const frames = yield* stream.rest
      const statuses = frames.map((frame) => dataOf(frame).status)
      assert.strictEqual(statuses.at(-1), "completed")
      assert.includeMembers(["pending", "running", "completed"], statuses)
      const record = (yield* Effect.promise(() => fetch(`${server.url}/tasks/${id}`).then((r) => r.json()))) as {
        output: unknown
      }
      assert.strictEqual(record.output, "done")

      yield* server.close
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(`${server.url}/health`)))
      assert.isTrue(Exit.isFailure(after))
      yield* server.close // a second close is the same close
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.live("lets in-flight requests finish and ends open event streams when it closes", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [slow] })
      const parent = new Hono()
      parent.get("/slow", async (c) => {
        await new Promise((resolve) => setTimeout(resolve, 200))
        return c.text("finished")
      })
      parent.route("/waypoint", app)
      const server = yield* serveNode(parent, { port: 0, shutdownTimeout: "5 seconds" })

      const stream = sseReader(yield* fetchEffect(`${server.url}/waypoint/events`))
      assert.deepStrictEqual(yield* stream.next, { comment: "connected" })
      const inFlight = yield* Effect.forkChild(
        Effect.promise(() => fetch(`${server.url}/slow`).then((r) => Promise.all([r.status, r.text()])))
      )
      yield* Effect.sleep("50 millis")
      const startedAt = Date.now()
      yield* server.close
      assert.isBelow(Date.now() - startedAt, 2_000)
      assert.deepStrictEqual(yield* Fiber.join(inFlight), [200, "finished"])
      assert.isUndefined(yield* stream.next)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.live("fails with ServeError when the port is taken", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [] })
      const first = yield* serveNode(app, { port: 0 })
      const error = yield* Effect.flip(serveNode(app, { port: first.port }))
      assert.strictEqual(error._tag, "ServeError")
      assert.include(error.message, String(first.port))
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
