import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { Hono } from "hono"
import { makeApp } from "../../src/http.ts"
import { Runtime, SnapshotPlugin, Snapshots, task } from "../../src/index.ts"
import { countTasks, expectProblem, postJson, readJson, request, withEveryStore } from "./fixtures.ts"

const Step = Schema.Struct({ step: Schema.Number })

/** Saves `{ step }` for each step up to `to`, starting after its latest snapshot; returns where it started. */
const counter = task({ name: "counter", input: Schema.Struct({ to: Schema.Number }) }, ({ to }) =>
  Effect.gen(function* () {
    const snapshots = (yield* Snapshots).typed(Step)
    const start = yield* snapshots.latestOr({ step: 0 })
    for (let step = start.step + 1; step <= to; step++) yield* snapshots.save({ step })
    return { from: start.step }
  })
)

/** A runtime with the snapshot plugin, an app over it, and one `counter` run to 3 (snapshots 1, 2 and 3). */
const withCounter = <A, E>(
  f: (env: {
    readonly app: Hono
    readonly runtime: Runtime.Runtime<Snapshots>
    readonly id: string
  }) => Effect.Effect<A, E>
) =>
  withEveryStore(
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make()] })
      const app = yield* makeApp({ runtime, tasks: [counter] })
      const { id } = yield* readJson(yield* postJson(app, "/tasks/counter", { to: 3 }))
      yield* runtime.handle(counter, String(id)).await
      return yield* f({ app, runtime, id: String(id) })
    })
  )

const MiB = 1024 * 1024

/** Almost 1 MiB (the default size limit) of JSON, starting with its version and a two-byte character. */
const blobOf = (version: number) => `${version}\u00e9`.padEnd(MiB - 64, "y")

/** Saves 20 large snapshots: versions 1 to 20, each `{ blob: blobOf(version) }`. */
const hoard = task({ name: "hoard", input: Schema.Struct({}) }, () =>
  Effect.gen(function* () {
    const snapshots = yield* Snapshots
    for (let version = 1; version <= 20; version++) yield* snapshots.save({ blob: blobOf(version) })
    return { saved: 20 }
  })
)

const versionsOf = (page: Record<string, unknown>) =>
  (page.items as Array<{ version: number }>).map((item) => item.version)

describe("snapshot routes", () => {
  it.effect("lists a task's snapshots newest first, page by page", () =>
    withCounter(({ app, id }) =>
      Effect.gen(function* () {
        const all = yield* readJson(yield* request(app, `/tasks/${id}/snapshots`))
        assert.deepStrictEqual(versionsOf(all), [3, 2, 1])
        assert.notProperty(all, "nextBefore")
        const first = yield* readJson(yield* request(app, `/tasks/${id}/snapshots?limit=2`))
        assert.deepStrictEqual(versionsOf(first), [3, 2])
        assert.strictEqual(first.nextBefore, 2)
        const second = yield* readJson(yield* request(app, `/tasks/${id}/snapshots?limit=2&before=2`))
        assert.deepStrictEqual(versionsOf(second), [1])
        // A list item is a summary: its size in bytes instead of its data (GET /tasks/:id/snapshots/:version has it).
        const item = (all.items as Array<Record<string, unknown>>)[0]
        assert.deepStrictEqual([item?.taskId, item?.checkpoint, item?.dataSizeBytes], [id, false, '{"step":3}'.length])
        assert.notProperty(item, "data")
        assert.match(String(item?.createdAt), /^\d{4}-\d{2}-\d{2}T/)
      })
    )
  )

  it.effect(
    "lists 20 snapshots of about 1 MiB in a small page: no item carries data, which each snapshot's route has",
    () =>
      withEveryStore(
        Effect.gen(function* () {
          const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make()] })
          const app = yield* makeApp({ runtime, tasks: [hoard] })
          const handle = yield* runtime.submit(hoard, {})
          yield* handle.await

          const response = yield* request(app, `/tasks/${handle.id}/snapshots?limit=1000`)
          assert.strictEqual(response.status, 200)
          const text = yield* Effect.promise(() => response.text())
          assert.isBelow(text.length, 20 * 1024) // a few hundred bytes an item; it was 1 MiB an item
          const page = JSON.parse(text) as Record<string, unknown>
          assert.deepStrictEqual(
            versionsOf(page),
            Array.from({ length: 20 }, (_, i) => 20 - i)
          )
          const utf8 = new TextEncoder()
          for (const item of page.items as Array<Record<string, unknown>>) {
            assert.notProperty(item, "data")
            const bytes = utf8.encode(JSON.stringify({ blob: blobOf(Number(item.version)) })).length
            assert.strictEqual(item.dataSizeBytes, bytes)
          }

          for (let version = 1; version <= 20; version++) {
            const read = yield* request(app, `/tasks/${handle.id}/snapshots/${version}`)
            assert.strictEqual(read.status, 200)
            const snapshot = yield* readJson(read)
            assert.strictEqual(snapshot.version, version)
            assert.deepStrictEqual(snapshot.data, { blob: blobOf(version) })
          }

          // The document says the same: a page's items are SnapshotSummary, which has no data.
          const document = yield* readJson(yield* request(app, "/openapi.json"))
          const schemas = (document.components as { schemas: Record<string, Record<string, unknown>> }).schemas
          const pageSchema = schemas.SnapshotPage?.properties as Record<string, unknown> | undefined
          assert.deepStrictEqual(pageSchema?.items, {
            type: "array",
            items: { $ref: "#/components/schemas/SnapshotSummary" }
          })
          const summary = schemas.SnapshotSummary?.properties as Record<string, unknown>
          assert.notProperty(summary, "data")
          assert.property(summary, "dataSizeBytes")
        })
      )
  )

  it.effect("answers 400 for a bad limit or before, and 404 for an unknown task", () =>
    withCounter(({ app, id }) =>
      Effect.gen(function* () {
        for (const query of ["limit=0", "limit=1001", "limit=abc", "limit=2.5", "before=0", "before=-1", "before=x"]) {
          yield* expectProblem(yield* request(app, `/tasks/${id}/snapshots?${query}`), 400, "InvalidRequest")
        }
        assert.strictEqual((yield* request(app, `/tasks/${id}/snapshots?limit=1000`)).status, 200)
        yield* expectProblem(yield* request(app, "/tasks/nope/snapshots"), 404, "TaskNotFound")
        const document = yield* readJson(yield* request(app, "/openapi.json"))
        const list = (document.paths as Record<string, { get: { parameters: Array<Record<string, unknown>> } }>)[
          "/tasks/{id}/snapshots"
        ]
        const limit = list?.get.parameters.find((parameter) => parameter.name === "limit")
        assert.deepInclude(limit?.schema as object, { type: "integer", minimum: 1, maximum: 1000 })
        assert.include(String(limit?.description), "1000")
      })
    )
  )

  it.effect("reads one snapshot; 404 for a version never saved, 400 for one that is not a version", () =>
    withCounter(({ app, id }) =>
      Effect.gen(function* () {
        const response = yield* request(app, `/tasks/${id}/snapshots/2`)
        assert.strictEqual(response.status, 200)
        const snapshot = yield* readJson(response)
        assert.deepStrictEqual([snapshot.version, snapshot.data], [2, { step: 2 }])
        yield* expectProblem(yield* request(app, `/tasks/${id}/snapshots/9`), 404, "SnapshotNotFound")
        for (const version of ["0", "-1", "1.5", "abc", "1e3", "9".repeat(20)]) {
          yield* expectProblem(yield* request(app, `/tasks/${id}/snapshots/${version}`), 400, "InvalidRequest")
        }
        yield* expectProblem(yield* request(app, "/tasks/nope/snapshots/1"), 404, "TaskNotFound")
      })
    )
  )

  it.effect("forks: a new task of the same name and input starts from the snapshot, recorded as its origin", () =>
    withCounter(({ app, runtime, id }) =>
      Effect.gen(function* () {
        const response = yield* postJson(app, `/tasks/${id}/fork`, { version: 2 })
        assert.strictEqual(response.status, 201)
        const forked = yield* readJson(response)
        assert.notStrictEqual(forked.id, id)
        assert.deepStrictEqual([forked.name, forked.input], ["counter", { to: 3 }])
        assert.strictEqual(response.headers.get("location"), `/tasks/${forked.id}`)
        assert.deepStrictEqual(yield* runtime.handle(counter, String(forked.id)).await, { from: 2 })

        const first = yield* readJson(yield* request(app, `/tasks/${forked.id}/snapshots/1`))
        assert.deepStrictEqual(first.data, { step: 2 })
        assert.deepStrictEqual(first.origin, { taskId: id, version: 2 })
        const page = yield* readJson(yield* request(app, `/tasks/${forked.id}/snapshots`))
        assert.deepStrictEqual(versionsOf(page), [2, 1])
        // The source is left as it was.
        assert.deepStrictEqual(versionsOf(yield* readJson(yield* request(app, `/tasks/${id}/snapshots`))), [3, 2, 1])
      })
    )
  )

  it.effect("answers 404 to a fork of an unknown task or version, 400 to a bad body, and starts nothing", () =>
    withCounter(({ app, runtime, id }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* postJson(app, `/tasks/${id}/fork`, { version: 9 }), 404, "SnapshotNotFound")
        yield* expectProblem(yield* postJson(app, "/tasks/nope/fork", { version: 1 }), 404, "TaskNotFound")
        for (const body of [{}, { version: 0 }, { version: 1.5 }, { version: "1" }, [], "null", "{"]) {
          yield* expectProblem(yield* postJson(app, `/tasks/${id}/fork`, body), 400, "InvalidRequest")
        }
        const text = yield* postJson(app, `/tasks/${id}/fork`, { version: 1 }, { "content-type": "text/plain" })
        yield* expectProblem(text, 415, "UnsupportedMediaType")
        assert.strictEqual(yield* countTasks(runtime), 1)
      })
    )
  )

  it.effect("answers 404 to a fork of a task that is not one of the app's tasks, and writes nothing", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [] })
        const handle = yield* runtime.submit(counter, { to: 1 })
        yield* handle.await
        const problem = yield* expectProblem(
          yield* postJson(app, `/tasks/${handle.id}/fork`, { version: 1 }),
          404,
          "UnknownTask"
        )
        assert.include(String(problem.detail), "counter")
        assert.strictEqual((yield* runtime.list({ limit: 10 })).items.length, 1)
      })
    )
  )
})
