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
        const item = (all.items as Array<Record<string, unknown>>)[0]
        assert.deepStrictEqual([item?.taskId, item?.data, item?.checkpoint], [id, { step: 3 }, false])
        assert.match(String(item?.createdAt), /^\d{4}-\d{2}-\d{2}T/)
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
