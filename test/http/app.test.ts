import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Logger, Schema, Scope } from "effect"
import { Hono } from "hono"
import { makeApp } from "../../src/http.ts"
import { MemoryTaskStore, Progress, ProgressPlugin, Runtime, StoreError, task } from "../../src/index.ts"
import {
  countTasks,
  expectProblem,
  gatedTask,
  greet,
  order,
  postJson,
  readJson,
  request,
  withApp,
  withEveryStore
} from "./fixtures.ts"

describe("makeApp", () => {
  it.effect("answers /health", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const response = yield* request(app, "/health")
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(yield* readJson(response), { status: "ok" })
      })
    )
  )

  it.effect("starts a task by name and returns it with 201 and its location", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const response = yield* postJson(app, "/tasks/greet", { name: "Ada" })
        assert.strictEqual(response.status, 201)
        const body = yield* readJson(response)
        assert.strictEqual(body.name, "greet")
        assert.isString(body.id)
        // A UUIDv7, as the runtime makes them, so that tasks started over HTTP sort in the order they were made.
        assert.match(String(body.id), /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
        assert.include(["pending", "running", "completed"], body.status)
        assert.deepStrictEqual(body.input, { name: "Ada" })
        assert.strictEqual(response.headers.get("location"), `/tasks/${body.id}`)
        yield* runtime.handle(greet, String(body.id)).await
        const record = yield* readJson(yield* request(app, `/tasks/${body.id}`))
        assert.strictEqual(record.status, "completed")
        assert.strictEqual(record.output, "hello Ada")
        assert.strictEqual(record.attempt, 1)
        for (const key of ["createdAt", "updatedAt", "startedAt", "finishedAt"]) {
          assert.match(String(record[key]), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
        }
        assert.notProperty(record, "fencingToken")
        assert.notProperty(record, "leaseOwner")
        assert.notProperty(record, "progress")
        assert.deepInclude(record.inspection as object, { taskId: body.id, status: "completed", reason: "finished" })
      })
    )
  )

  it.effect("shows a task's latest progress in GET /tasks/:id when a ProgressStore is in the context", () =>
    withEveryStore(
      Effect.gen(function* () {
        const reporting = task({ name: "reporting", input: Schema.Struct({}) }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* progress.status("importing")
            yield* progress.update(40, "row 40 of 100")
          })
        )
        const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [reporting, greet] })
        const { id } = yield* readJson(yield* postJson(app, "/tasks/reporting", {}))
        yield* runtime.handle(reporting, String(id)).await
        const record = yield* readJson(yield* request(app, `/tasks/${id}`))
        assert.deepStrictEqual(record.progress, {
          percent: 40,
          message: "row 40 of 100",
          status: "importing",
          updatedAt: "1970-01-01T00:00:00.000Z"
        })
        const quiet = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        assert.notProperty(yield* readJson(yield* request(app, `/tasks/${quiet.id}`)), "progress")
      })
    )
  )

  it.effect("answers 501, naming the missing service, on routes whose store or StateManager it was built without", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const { id } = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        const routes: ReadonlyArray<readonly [string, string, string]> = [
          ["GET", `/tasks/${id}/state`, "StateStore"],
          ["GET", `/tasks/${id}/snapshots`, "SnapshotStore"],
          ["GET", `/tasks/${id}/snapshots/1`, "SnapshotStore"],
          ["POST", `/tasks/${id}/fork`, "SnapshotStore"],
          ["GET", `/tasks/${id}/tree`, "RunTreeStore"],
          ["GET", `/tasks/${id}/tree/checkpoints`, "StateManager"],
          ["GET", `/tasks/${id}/tree/checkpoints/c1`, "StateManager"],
          ["GET", "/sessions", "StateManager"],
          ["GET", "/sessions/s1", "StateManager"],
          ["PUT", "/sessions/s1", "StateManager"],
          ["DELETE", "/sessions/s1", "StateManager"],
          ["GET", "/sessions/s1/checkpoints", "StateManager"],
          ["POST", "/sessions/s1/checkpoints", "StateManager"],
          ["POST", "/checkpoints/c1/restore", "StateManager"]
        ]
        for (const [method, path, service] of routes) {
          const problem = yield* expectProblem(yield* request(app, path, { method }), 501, "ServiceNotConfigured")
          assert.include(String(problem.detail), service, path)
          // and says how to add it
          assert.include(String(problem.detail), service === "StateManager" ? "makeApp({" : "provide it", path)
          assert.notProperty(problem, "errorId")
        }
      })
    )
  )

  it.effect("accepts JSON media types with parameters and +json suffixes", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        for (const type of ["application/json; charset=utf-8", "Application/JSON", "application/vnd.api+json"]) {
          const response = yield* postJson(app, "/tasks/greet", { name: "x" }, { "content-type": type })
          assert.strictEqual(response.status, 201, type)
        }
      })
    )
  )

  it.effect("answers 400 with the Schema's message when the input has wrong types, and stores nothing", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const problem = yield* expectProblem(
          yield* postJson(app, "/tasks/greet", { name: 42 }),
          400,
          "InvalidTaskInput"
        )
        assert.include(String(problem.detail), "Expected string")
        assert.include(String(problem.detail), '["name"]')
        yield* expectProblem(yield* postJson(app, "/tasks/order", { sku: "a", quantity: 0 }), 400, "InvalidTaskInput")
        yield* expectProblem(yield* postJson(app, "/tasks/order", { sku: "a", quantity: 1.5 }), 400, "InvalidTaskInput")
        yield* expectProblem(yield* postJson(app, "/tasks/greet", []), 400, "InvalidTaskInput")
        yield* expectProblem(yield* postJson(app, "/tasks/greet", "null"), 400, "InvalidTaskInput")
        assert.strictEqual(yield* countTasks(runtime), 0)
      })
    )
  )

  it.effect("answers 400 for a body that is not JSON, not UTF-8, empty or nested too deep", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        for (const body of ['{"name": "Ada"', "", "{'name': 'Ada'}", "[".repeat(70) + "]".repeat(70)]) {
          yield* expectProblem(yield* postJson(app, "/tasks/greet", body), 400, "InvalidRequest")
        }
        const latin1 = new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d])
        const response = yield* request(app, "/tasks/greet", {
          method: "POST",
          body: latin1,
          headers: { "content-type": "application/json" }
        })
        const problem = yield* expectProblem(response, 400, "InvalidRequest")
        assert.include(String(problem.detail), "UTF-8")
        assert.strictEqual(yield* countTasks(runtime), 0)
      })
    )
  )

  it.effect("answers 404 for an unknown task name", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* postJson(app, "/tasks/nope", { name: "Ada" }), 404, "UnknownTask")
      })
    )
  )

  it.effect("answers 415 unless the body is JSON in UTF-8", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin1"]) {
          const response = yield* postJson(app, "/tasks/greet", { name: "Ada" }, { "content-type": type })
          yield* expectProblem(response, 415, "UnsupportedMediaType")
        }
        const untyped = yield* request(app, "/tasks/greet", { method: "POST", body: new Uint8Array([123, 125]) })
        yield* expectProblem(untyped, 415, "UnsupportedMediaType")
        assert.strictEqual(yield* countTasks(runtime), 0)
      })
    )
  )

  it.effect("answers 413 over the body limit, counting the bytes read and not only Content-Length", () =>
    withApp(
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const big = { name: "x".repeat(100) }
          yield* expectProblem(yield* postJson(app, "/tasks/greet", big), 413, "PayloadTooLarge")
          // A body whose length is not announced: only reading it can tell.
          const chunks = [new TextEncoder().encode('{"name":"'), new TextEncoder().encode(`${"y".repeat(100)}"}`)]
          const streamed = new ReadableStream<Uint8Array>({
            start(controller) {
              for (const chunk of chunks) controller.enqueue(chunk)
              controller.close()
            }
          })
          const unannounced = yield* request(app, "/tasks/greet", {
            method: "POST",
            body: streamed,
            headers: { "content-type": "application/json" },
            duplex: "half"
          } as RequestInit)
          yield* expectProblem(unannounced, 413, "PayloadTooLarge")
          // A Content-Length that understates the body.
          const lying = yield* postJson(app, "/tasks/greet", big, { "content-length": "10" })
          yield* expectProblem(lying, 413, "PayloadTooLarge")
          assert.strictEqual((yield* postJson(app, "/tasks/greet", { name: "fits" })).status, 201)
          assert.strictEqual(yield* countTasks(runtime), 1)
        }),
      { bodyLimitBytes: 64 }
    )
  )

  it.effect("returns the same task for a retried start with the same Idempotency-Key", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const headers = { "idempotency-key": "order-7" }
        const first = yield* postJson(app, "/tasks/greet", { name: "Ada" }, headers)
        const second = yield* postJson(app, "/tasks/greet", { name: "Ada" }, headers)
        assert.strictEqual(first.status, 201)
        assert.strictEqual(second.status, 200)
        const [a, b] = [yield* readJson(first), yield* readJson(second)]
        assert.strictEqual(a.id, b.id)
        assert.strictEqual(yield* countTasks(runtime), 1)
      })
    )
  )

  it.effect("answers 409 when a task's Idempotency-Key is reused with another input or session", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const headers = { "idempotency-key": "k-1" }
        const first = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }, headers))
        const otherInput = yield* postJson(app, "/tasks/greet", { name: "Bob" }, headers)
        const problem = yield* expectProblem(otherInput, 409, "IdempotencyKeyReused")
        assert.include(String(problem.detail), String(first.id))
        const otherSession = yield* postJson(app, "/tasks/greet?session=s2", { name: "Ada" }, headers)
        yield* expectProblem(otherSession, 409, "IdempotencyKeyReused")
        assert.strictEqual(yield* countTasks(runtime), 1)
        // Keys are scoped by task: the same key on another task starts that task.
        const otherTask = yield* postJson(app, "/tasks/order", { sku: "a", quantity: 1 }, headers)
        assert.strictEqual(otherTask.status, 201)
        assert.strictEqual((yield* postJson(app, "/tasks/order", { sku: "a", quantity: 1 }, headers)).status, 200)
        assert.strictEqual(yield* countTasks(runtime), 2)
      })
    )
  )

  it.effect("answers 400 for a malformed Idempotency-Key or session", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        for (const key of ["has space", "x".repeat(256), "caf\u00e9"]) {
          const response = yield* postJson(app, "/tasks/greet", { name: "Ada" }, { "idempotency-key": key })
          yield* expectProblem(response, 400, "InvalidRequest")
        }
        yield* expectProblem(yield* postJson(app, "/tasks/greet?session=", { name: "Ada" }), 400, "InvalidRequest")
        yield* expectProblem(
          yield* postJson(app, `/tasks/greet?session=${"s".repeat(300)}`, { name: "Ada" }),
          400,
          "InvalidRequest"
        )
        assert.strictEqual(yield* countTasks(runtime), 0)
      })
    )
  )

  it.effect("puts a task in the session given as a query parameter", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const started = yield* readJson(yield* postJson(app, "/tasks/greet?session=alpha", { name: "Ada" }))
        assert.strictEqual(started.sessionId, "alpha")
        yield* postJson(app, "/tasks/greet", { name: "Bob" })
        const page = yield* readJson(yield* request(app, "/tasks?session=alpha"))
        assert.deepStrictEqual(
          (page.items as Array<{ id: string }>).map((item) => item.id),
          [started.id]
        )
      })
    )
  )

  it.effect(
    "starts a task with the deadline given as a query parameter, and answers 400 to one that is not a date",
    () =>
      withApp(({ app, runtime }) =>
        Effect.gen(function* () {
          const started = yield* readJson(
            yield* postJson(app, "/tasks/greet?deadline=2030-01-02T03:04:05.000Z", { name: "Ada" })
          )
          assert.strictEqual(started.deadline, "2030-01-02T03:04:05.000Z")
          assert.strictEqual((yield* runtime.get(started.id as string)).deadline, Date.UTC(2030, 0, 2, 3, 4, 5))
          yield* expectProblem(
            yield* postJson(app, "/tasks/greet?deadline=tomorrow", { name: "Bob" }),
            400,
            "InvalidRequest"
          )
          // written right, but no date: refused by the runtime
          for (const date of ["2030-13-45T00:00Z", "2030-02-31T00:00:00Z"]) {
            yield* expectProblem(
              yield* postJson(app, `/tasks/greet?deadline=${date}`, { name: "Bob" }),
              400,
              "InvalidTaskInput"
            )
          }
          // an offset, its + written %2B
          const offset = yield* readJson(
            yield* postJson(app, "/tasks/greet?deadline=2030-01-02T04:04:05%2B01:00", { name: "Cy" })
          )
          assert.strictEqual(offset.deadline, "2030-01-02T03:04:05.000Z")
          assert.strictEqual(yield* countTasks(runtime), 2)
        })
      )
  )

  it.effect("lists tasks with filters and walks every page with the cursor", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const ids: Array<string> = []
        for (let i = 0; i < 5; i++)
          ids.push(String((yield* readJson(yield* postJson(app, "/tasks/greet", { name: `n${i}` }))).id))
        yield* postJson(app, "/tasks/order", { sku: "a", quantity: 2 })
        for (const id of ids) yield* runtime.handle(greet, id).await
        const seen: Array<string> = []
        let cursor: string | undefined
        let pages = 0
        do {
          const query = `/tasks?name=greet&status=completed&limit=2${cursor === undefined ? "" : `&cursor=${cursor}`}`
          const page = yield* readJson(yield* request(app, query))
          seen.push(...(page.items as Array<{ id: string }>).map((item) => item.id))
          cursor = page.nextCursor as string | undefined
          pages++
        } while (cursor !== undefined)
        assert.strictEqual(pages, 3)
        assert.sameMembers(seen, ids)
        const orders = yield* readJson(yield* request(app, "/tasks?name=order"))
        assert.strictEqual((orders.items as Array<unknown>).length, 1)
        const all = yield* readJson(yield* request(app, "/tasks"))
        assert.strictEqual((all.items as Array<unknown>).length, 6)
      })
    )
  )

  it.effect("answers 400 for a bad filter or paging value", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        for (const query of ["limit=0", "limit=1001", "limit=abc", "limit=2.5", "status=done", "cursor=!!", "name="]) {
          yield* expectProblem(yield* request(app, `/tasks?${query}`), 400, "InvalidRequest")
        }
        // well-formed base64url, but not a cursor a page gave
        for (const cursor of ["abc", `${"9".repeat(25)}:x`]) {
          const encoded = Buffer.from(cursor).toString("base64url")
          yield* expectProblem(yield* request(app, `/tasks?cursor=${encoded}`), 400, "InvalidCursor")
        }
        assert.strictEqual((yield* request(app, "/tasks?limit=1000")).status, 200)
      })
    )
  )

  it.effect("answers 400 to a task input with text no store can keep, and stores nothing", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        for (const name of ["a\u0000b", "\ud800"]) {
          yield* expectProblem(yield* postJson(app, "/tasks/greet", { name }), 400, "InvalidTaskInput")
        }
        assert.deepStrictEqual((yield* readJson(yield* request(app, "/tasks"))).items, [])
      })
    )
  )

  it.effect("answers 404 for an unknown task id", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* request(app, "/tasks/no-such-id"), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, `/tasks/${"x".repeat(2000)}`), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, "/tasks/a%00b"), 404, "TaskNotFound")
        yield* expectProblem(yield* request(app, "/tasks/no-such-id/cancel", { method: "POST" }), 404, "TaskNotFound")
      })
    )
  )

  it.effect("cancels a running task, and cancelling it again is fine", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const gated = gatedTask(gate)
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const started = yield* readJson(yield* postJson(app, "/tasks/gated", {}))
            const cancelled = yield* request(app, `/tasks/${started.id}/cancel`, { method: "POST" })
            assert.strictEqual(cancelled.status, 200)
            assert.strictEqual((yield* readJson(cancelled)).status, "cancelled")
            const again = yield* request(app, `/tasks/${started.id}/cancel`, { method: "POST" })
            assert.strictEqual(again.status, 200)
            assert.strictEqual((yield* readJson(again)).status, "cancelled")
          }),
        { tasks: [gated] }
      )
    })
  )

  it.effect("cancelling a completed task leaves it completed", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const started = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        yield* runtime.handle(greet, String(started.id)).await
        const response = yield* request(app, `/tasks/${started.id}/cancel`, { method: "POST" })
        assert.strictEqual(response.status, 200)
        assert.strictEqual((yield* readJson(response)).status, "completed")
      })
    )
  )

  it.effect("answers 405 with Allow for another method on a known path, and 204 to OPTIONS", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const put = yield* request(app, "/tasks/greet", { method: "PUT" })
        yield* expectProblem(put, 405, "MethodNotAllowed")
        assert.strictEqual(put.headers.get("allow"), "GET, HEAD, POST")
        const deleted = yield* request(app, "/tasks", { method: "DELETE" })
        yield* expectProblem(deleted, 405, "MethodNotAllowed")
        assert.strictEqual(deleted.headers.get("allow"), "GET, HEAD")
        yield* expectProblem(yield* request(app, "/health", { method: "POST" }), 405, "MethodNotAllowed")
        const options = yield* request(app, "/tasks/x/cancel", { method: "OPTIONS" })
        assert.strictEqual(options.status, 204)
        assert.strictEqual(options.headers.get("allow"), "POST, OPTIONS")
        const patch = yield* request(app, "/sessions/s1", { method: "PATCH" })
        yield* expectProblem(patch, 405, "MethodNotAllowed")
        assert.strictEqual(patch.headers.get("allow"), "DELETE, GET, HEAD, PUT")
        const getFork = yield* request(app, "/tasks/x/fork")
        yield* expectProblem(getFork, 405, "MethodNotAllowed")
        assert.strictEqual(getFork.headers.get("allow"), "POST")
      })
    )
  )

  it.effect("answers 404 problem+json for an unknown path", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* request(app, "/nowhere"), 404, "RouteNotFound")
      })
    )
  )

  it.effect("asks for the bearer token on every route but /health", () =>
    withApp(
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const paths = [
            "/tasks",
            "/tasks/x",
            "/openapi.json",
            "/events",
            "/tasks/x/events",
            "/tasks/x/state",
            "/tasks/x/snapshots",
            "/sessions",
            "/sessions/s1"
          ]
          for (const path of paths) {
            const response = yield* request(app, path)
            yield* expectProblem(response, 401, "Unauthorized")
            assert.strictEqual(response.headers.get("www-authenticate"), 'Bearer realm="waypoint"')
          }
          yield* expectProblem(yield* postJson(app, "/tasks/greet", { name: "Ada" }), 401, "Unauthorized")
          const wrong = { authorization: "Bearer s3cret-s3cret-s3cret-but-wrong" }
          yield* expectProblem(yield* request(app, "/tasks", { headers: wrong }), 401, "Unauthorized")
          const basic = { authorization: "Basic czNjcmV0Og==" }
          yield* expectProblem(yield* request(app, "/tasks", { headers: basic }), 401, "Unauthorized")
          assert.strictEqual(yield* countTasks(runtime), 0)
          assert.strictEqual((yield* request(app, "/health")).status, 200)
          const right = { authorization: "Bearer s3cret-s3cret-s3cret" }
          assert.strictEqual((yield* request(app, "/tasks", { headers: right })).status, 200)
          assert.strictEqual(
            (yield* request(app, "/tasks", { headers: { authorization: "bearer s3cret-s3cret-s3cret" } })).status,
            200
          )
          const started = yield* postJson(app, "/tasks/greet", { name: "Ada" }, right)
          assert.strictEqual(started.status, 201)
        }),
      { auth: { bearer: "s3cret-s3cret-s3cret" } }
    )
  )

  it.effect("answers without credentials when no auth is configured", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        assert.strictEqual((yield* request(app, "/tasks")).status, 200)
        assert.strictEqual((yield* request(app, "/openapi.json")).status, 200)
      })
    )
  )

  it.effect("checks credentials with a verify function", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          yield* expectProblem(yield* request(app, "/tasks"), 401, "Unauthorized")
          const allowed = yield* request(app, "/tasks", { headers: { "x-api-key": "letmein" } })
          assert.strictEqual(allowed.status, 200)
        }),
      { auth: { verify: (req) => Promise.resolve(req.headers.get("x-api-key") === "letmein") } }
    )
  )

  it.effect("answers 500 with a logged error id, and no internal message, when verify throws", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const capture = Logger.layer([Logger.map(Logger.formatJson, (line) => logs.push(line))])
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const response = yield* request(app, "/tasks")
            const problem = yield* expectProblem(response, 500, "InternalError")
            assert.isString(problem.errorId)
            assert.notInclude(JSON.stringify(problem), "vault password")
            assert.isTrue(
              logs.some((line) => line.includes(String(problem.errorId)) && line.includes("vault password"))
            )
          }),
        {
          auth: {
            verify: () => {
              throw new Error("vault password is hunter2")
            }
          }
        }
      ).pipe(Effect.provide(capture))
    })
  )

  it.effect("answers 500 with a logged error id for a defect, and 503 for a store failure", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const capture = Logger.layer([Logger.map(Logger.formatJson, (line) => logs.push(line))])
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const defect = yield* expectProblem(yield* request(app, "/tasks/boom"), 500, "InternalError")
            assert.isString(defect.errorId)
            assert.notInclude(JSON.stringify(defect), "internal detail")
            assert.isTrue(
              logs.some((line) => line.includes(String(defect.errorId)) && line.includes("internal detail"))
            )
            const store = yield* expectProblem(yield* request(app, "/tasks"), 503, "StoreError")
            assert.isString(store.errorId)
            assert.notInclude(JSON.stringify(store), "connection refused")
            assert.isTrue(logs.some((line) => line.includes(String(store.errorId))))
          }),
        {
          wrap: (runtime) => ({
            ...runtime,
            get: () => Effect.die(new Error("internal detail"))
          }),
          wrapTaskStore: (store) => ({
            ...store,
            listSummaries: () =>
              Effect.fail(new StoreError({ operation: "listSummaries", cause: new Error("connection refused") }))
          })
        }
      ).pipe(Effect.provide(capture))
    })
  )

  it.effect("answers CORS preflights when CORS is on, and sends no CORS headers when it is off", () =>
    Effect.gen(function* () {
      const preflight = {
        method: "OPTIONS",
        headers: {
          origin: "https://example.com",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type"
        }
      }
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const response = yield* request(app, "/tasks/greet", preflight)
            assert.strictEqual(response.status, 204)
            assert.strictEqual(response.headers.get("access-control-allow-origin"), "https://example.com")
            const get = yield* request(app, "/health", { headers: { origin: "https://example.com" } })
            assert.strictEqual(get.headers.get("access-control-allow-origin"), "https://example.com")
          }),
        { cors: { origin: "https://example.com" }, auth: { bearer: "a-token-of-16-chars" } }
      )
      yield* withApp(({ app }) =>
        Effect.gen(function* () {
          const get = yield* request(app, "/health", { headers: { origin: "https://example.com" } })
          assert.isNull(get.headers.get("access-control-allow-origin"))
        })
      )
    })
  )

  it.effect("works mounted under a prefix of a parent app", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const parent = new Hono()
        parent.get("/", (c) => c.text("home"))
        parent.route("/waypoint", app)
        const response = yield* postJson(parent as unknown as Hono, "/waypoint/tasks/greet", { name: "Ada" })
        assert.strictEqual(response.status, 201)
        const body = yield* readJson(response)
        assert.strictEqual(response.headers.get("location"), `/waypoint/tasks/${body.id}`)
        assert.strictEqual((yield* request(parent, `/waypoint/tasks/${body.id}`)).status, 200)
        const document = yield* readJson(yield* request(parent, "/waypoint/openapi.json"))
        assert.deepStrictEqual(document.servers, [{ url: "/waypoint" }])
        assert.strictEqual((yield* request(parent, "/")).status, 200)
      })
    )
  )

  it.effect("answers 503 once the app's Scope is closed", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [greet] }).pipe(Scope.provide(scope))
      assert.strictEqual((yield* request(app, "/tasks")).status, 200)
      yield* Scope.close(scope, Exit.void)
      const response = yield* request(app, "/tasks")
      yield* expectProblem(response, 503, "ShuttingDown")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("refuses two tasks of one name", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const exit = yield* Effect.exit(makeApp({ runtime, tasks: [greet, greet] }))
      assert.isTrue(Exit.hasDies(exit))
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("only accepts tasks whose services the runtime provides", () =>
    Effect.gen(function* () {
      class Mailer extends Context.Service<Mailer, { readonly send: Effect.Effect<void> }>()("test/Mailer") {}
      const mail = task({ name: "mail", input: Schema.Struct({}) }, () =>
        Effect.gen(function* () {
          const mailer = yield* Mailer
          yield* mailer.send
        })
      )
      const runtime = yield* Runtime.make()
      // @ts-expect-error the runtime has no plugin that provides Mailer
      yield* makeApp({ runtime, tasks: [greet, mail] })
      yield* makeApp({ runtime, tasks: [greet, order] })
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
