import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { TestClock } from "effect/testing"
import { makeApp } from "../../src/http.ts"
import { Runtime, StatePlugin, TaskState, task, waitForSignal } from "../../src/index.ts"
import { awaitStatus, expectProblem, postJson, readJson, request, withApp, withEveryStore } from "./fixtures.ts"

/** Writes its state, then waits for a signal, so the state stays while it is suspended. */
const drafter = task({ name: "drafter", input: Schema.Struct({}) }, () =>
  Effect.gen(function* () {
    const state = yield* TaskState
    yield* state.set("count", 3)
    yield* state.set("draft", { text: "v1" }, { ttl: "1 minute" })
    return yield* waitForSignal("go", Schema.Null)
  })
)

describe("state routes", () => {
  it.effect("reads a task's own state, leaving out keys whose TTL has passed", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [drafter] })
        const { id } = yield* readJson(yield* postJson(app, "/tasks/drafter", {}))
        yield* awaitStatus(runtime, String(id), "suspended")

        const response = yield* request(app, `/tasks/${id}/state`)
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(yield* readJson(response), {
          taskId: id,
          entries: {
            count: { value: 3, version: 1 },
            draft: { value: { text: "v1" }, version: 1, expiresAt: "1970-01-01T00:01:00.000Z" }
          }
        })
        yield* TestClock.adjust("1 minute")
        const later = yield* readJson(yield* request(app, `/tasks/${id}/state`))
        assert.deepStrictEqual(later.entries, { count: { value: 3, version: 1 } })
      })
    )
  )

  it.effect("answers 404 for an unknown task", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          yield* expectProblem(yield* request(app, "/tasks/no-such-task/state"), 404, "TaskNotFound")
          yield* expectProblem(yield* request(app, "/tasks/a%00b/state"), 404, "TaskNotFound")
        }),
      { everyStore: true }
    )
  )

  it.effect("answers an empty state for a task that wrote none", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const { id } = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
          assert.deepStrictEqual(yield* readJson(yield* request(app, `/tasks/${id}/state`)), {
            taskId: id,
            entries: {}
          })
        }),
      { everyStore: true }
    )
  )
})
