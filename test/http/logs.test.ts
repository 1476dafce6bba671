import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { makeApp } from "../../src/http.ts"
import { MemoryTaskStore, Progress, ProgressPlugin, Runtime, task } from "../../src/index.ts"
import { expectProblem, readJson, request, withEveryStore } from "./fixtures.ts"

const chatty = task({ name: "chatty", input: Schema.Number }, (lines) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    for (let i = 1; i <= lines; i++) yield* progress.log(`line ${i}`, i === lines ? "warning" : "info", { i })
  })
)

describe("HTTP: a task's log lines", () => {
  it.effect("pages a task's stored lines, oldest first, after a sequence number", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [chatty] })
        const handle = yield* runtime.submit(chatty, 3)
        yield* handle.await
        const all = (yield* readJson(yield* request(app, `/tasks/${handle.id}/logs`))) as {
          items: Array<{ seq: number; level: string; message: string; data?: unknown; at: string }>
        }
        assert.deepStrictEqual(
          all.items.map(({ message, level, data }) => [message, level, data]),
          [
            ["line 1", "info", { i: 1 }],
            ["line 2", "info", { i: 2 }],
            ["line 3", "warning", { i: 3 }]
          ]
        )
        assert.match(all.items[0]?.at ?? "", /^\d{4}-\d\d-\d\dT/)
        const first = all.items[0]?.seq ?? -1
        const after = (yield* readJson(yield* request(app, `/tasks/${handle.id}/logs?after=${first}&limit=1`))) as {
          items: Array<{ message: string }>
        }
        assert.deepStrictEqual(
          after.items.map((entry) => entry.message),
          ["line 2"]
        )
        yield* expectProblem(yield* request(app, `/tasks/${handle.id}/logs?limit=1001`), 400, "InvalidRequest")
        yield* expectProblem(yield* request(app, `/tasks/${handle.id}/logs?after=-1`), 400, "InvalidRequest")
        yield* expectProblem(
          yield* request(app, "/tasks/01a24f2a-8987-7000-a6c1-79434640eafa/logs"),
          404,
          "TaskNotFound"
        )
      })
    )
  )

  it.effect("answers 501 on a server built without a ProgressStore", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [] })
      yield* expectProblem(
        yield* request(app, "/tasks/01a24f2a-8987-7000-a6c1-79434640eafa/logs"),
        501,
        "ServiceNotConfigured"
      )
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
