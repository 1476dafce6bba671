import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Ref, Schema } from "effect"
import { makeApp } from "../../src/http.ts"
import { Runtime, StatePlugin, task, waitForSignal } from "../../src/index.ts"
import { awaitStatus, expectProblem, greet, postJson, readJson, request, withApp, withEveryStore } from "./fixtures.ts"

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const approve = task({ name: "approve", input: Schema.Struct({}), signals: { approval: Approval } }, () =>
  waitForSignal("approval", Approval)
)

describe("control routes", () => {
  it.effect("pauses a running task, then resumes it, and it completes", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const started = yield* Deferred.make<void>()
      const pausable = task({ name: "pausable", input: Schema.Struct({}) }, () =>
        Effect.gen(function* () {
          const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
          if (run === 1) {
            yield* Deferred.succeed(started, undefined)
            return yield* Effect.never
          }
          return run
        })
      )
      yield* withApp(
        ({ app, runtime }) =>
          Effect.gen(function* () {
            const { id } = yield* readJson(yield* postJson(app, "/tasks/pausable", {}))
            yield* Deferred.await(started)
            const paused = yield* request(app, `/tasks/${id}/pause`, { method: "POST" })
            assert.strictEqual(paused.status, 200)
            const pausedBody = yield* readJson(paused)
            assert.strictEqual(pausedBody.status, "suspended")
            assert.deepStrictEqual(pausedBody.suspendReason, { _tag: "Paused" })
            const resumed = yield* request(app, `/tasks/${id}/resume`, { method: "POST" })
            assert.strictEqual(resumed.status, 200)
            assert.include(["pending", "running", "completed"], (yield* readJson(resumed)).status)
            assert.strictEqual(yield* runtime.handle(pausable, String(id)).await, 2)
            const done = yield* readJson(yield* request(app, `/tasks/${id}`))
            assert.deepStrictEqual([done.status, done.output], ["completed", 2])
          }),
        { tasks: [pausable] }
      )
    })
  )

  it.effect("pauses and cancels tasks that another process runs: 200 once asked, and that process carries it out", () =>
    Effect.gen(function* () {
      const started = yield* Ref.make(0)
      const long = task({ name: "long", input: Schema.Struct({}) }, () =>
        Ref.update(started, (n) => n + 1).pipe(Effect.andThen(Effect.never))
      )
      const running = (n: number) => Ref.get(started).pipe(Effect.repeat({ until: (count) => count >= n }))
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            // a runtime of its own runs the tasks, as another process would
            const worker = yield* Runtime.make()
            const paused = yield* worker.submit(long, {})
            yield* running(1)
            const asked = yield* request(app, `/tasks/${paused.id}/pause`, { method: "POST" })
            assert.strictEqual(asked.status, 200)
            assert.include(["running", "suspended"], (yield* readJson(asked)).status)
            const after = yield* worker.get(paused.id).pipe(Effect.repeat({ until: (r) => r.status !== "running" }))
            assert.deepStrictEqual([after.status, after.suspendReason], ["suspended", { _tag: "Paused" }])

            const cancelled = yield* worker.submit(long, {})
            yield* running(2)
            const cancelling = yield* request(app, `/tasks/${cancelled.id}/cancel`, { method: "POST" })
            assert.strictEqual(cancelling.status, 200)
            assert.strictEqual((yield* Effect.flip(cancelled.await))._tag, "TaskCancelled")
          }),
        { tasks: [long] }
      )
    })
  )

  it.effect("answers 409 to pausing or resuming a task that has ended, and 404 for an unknown task", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const { id } = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        yield* runtime.handle(greet, String(id)).await
        for (const action of ["pause", "resume"]) {
          const problem = yield* expectProblem(
            yield* request(app, `/tasks/${id}/${action}`, { method: "POST" }),
            409,
            "InvalidTransition"
          )
          assert.include(String(problem.detail), "completed")
          const unknown = yield* request(app, `/tasks/no-such-task/${action}`, { method: "POST" })
          yield* expectProblem(unknown, 404, "TaskNotFound")
        }
        const record = yield* runtime.get(String(id))
        assert.strictEqual(record.status, "completed")
      })
    )
  )

  it.effect(
    "delivers a signal to a waiting task with 202; a payload its Schema refuses is a 400 and delivers nothing",
    () =>
      withEveryStore(
        Effect.gen(function* () {
          const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
          const app = yield* makeApp({ runtime, tasks: [approve] })
          const { id } = yield* readJson(yield* postJson(app, "/tasks/approve", {}))
          yield* awaitStatus(runtime, String(id), "suspended")
          const waiting = yield* readJson(yield* request(app, `/tasks/${id}`))
          assert.strictEqual(waiting.status, "suspended")
          assert.deepStrictEqual(waiting.suspendReason, { _tag: "WaitingForSignal", signal: "approval" })

          const bad = yield* postJson(app, `/tasks/${id}/signals/approval`, { approved: "yes" })
          const problem = yield* expectProblem(bad, 400, "SignalRejected")
          assert.include(String(problem.detail), "approved")
          yield* Effect.yieldNow
          const still = yield* readJson(yield* request(app, `/tasks/${id}`))
          assert.deepStrictEqual(
            [still.status, still.suspendReason],
            ["suspended", { _tag: "WaitingForSignal", signal: "approval" }]
          )

          const good = yield* postJson(app, `/tasks/${id}/signals/approval`, { approved: true, by: "ada" })
          assert.strictEqual(good.status, 202)
          assert.strictEqual(yield* Effect.promise(() => good.text()), "")
          assert.deepStrictEqual(yield* runtime.handle(approve, String(id)).await, { approved: true, by: "ada" })
        })
      )
  )

  it.effect("answers 409 to a signal for a task that has ended, and 404 for an unknown task", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [approve, greet] })
        const { id } = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        yield* runtime.handle(greet, String(id)).await
        const ended = yield* postJson(app, `/tasks/${id}/signals/approval`, { approved: true, by: "ada" })
        const problem = yield* expectProblem(ended, 409, "TaskEnded")
        assert.include(String(problem.detail), "completed")
        // A payload that would be refused too: the task's end is what the client must learn.
        yield* expectProblem(yield* postJson(app, `/tasks/${id}/signals/approval`, "null"), 409, "TaskEnded")
        yield* expectProblem(yield* postJson(app, "/tasks/nope/signals/approval", { x: 1 }), 404, "TaskNotFound")
      })
    )
  )

  it.effect("answers 400 for a bad signal name or body, and 415 for a body that is not JSON", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
        const app = yield* makeApp({ runtime, tasks: [approve] })
        const { id } = yield* readJson(yield* postJson(app, "/tasks/approve", {}))
        yield* awaitStatus(runtime, String(id), "suspended")
        for (const name of ["a%00b", "n".repeat(300)]) {
          yield* expectProblem(yield* postJson(app, `/tasks/${id}/signals/${name}`, {}), 400, "InvalidRequest")
        }
        yield* expectProblem(yield* postJson(app, `/tasks/${id}/signals/approval`, "{"), 400, "InvalidRequest")
        const text = yield* postJson(app, `/tasks/${id}/signals/approval`, "{}", { "content-type": "text/plain" })
        yield* expectProblem(text, 415, "UnsupportedMediaType")
        yield* Effect.yieldNow
        assert.strictEqual((yield* runtime.get(String(id))).status, "suspended")
      })
    )
  )
})
