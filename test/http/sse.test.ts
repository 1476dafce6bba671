import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { makeApp } from "../../src/http.ts"
import { MemoryTaskStore, Runtime } from "../../src/index.ts"
import { dataOf, expectProblem, gatedTask, greet, postJson, readJson, request, sseReader, withApp } from "./fixtures.ts"

describe("event streams", () => {
  it.effect("follows a task to completion, events in order, each id its seq", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const running = yield* Deferred.make<void>()
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const started = yield* readJson(yield* postJson(app, "/tasks/gated", {}))
            yield* Deferred.await(running)
            const stream = sseReader(yield* request(app, `/tasks/${started.id}/events`))
            assert.deepStrictEqual(yield* stream.next, { comment: "connected" })
            const first = yield* stream.nextEvent
            assert.strictEqual(first?.event, "StatusChanged")
            assert.strictEqual(dataOf(first).status, "running")
            yield* Deferred.succeed(gate, undefined)
            const rest = yield* stream.rest
            const frames = [first!, ...rest]
            assert.deepStrictEqual(
              frames.map((frame) => dataOf(frame).status),
              ["running", "completed"]
            )
            for (const frame of frames) {
              assert.strictEqual(frame.id, String(dataOf(frame).seq))
              assert.strictEqual(dataOf(frame).taskId, started.id)
            }
            assert.isTrue(Number(frames[0]!.id) < Number(frames[1]!.id))
          }),
        { tasks: [gatedTask(gate, running)] }
      )
    })
  )

  it.effect("sends only the final status for a task that has ended", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const started = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        yield* runtime.handle(greet, String(started.id)).await
        const frames = yield* sseReader(yield* request(app, `/tasks/${started.id}/events`)).rest
        assert.deepStrictEqual(
          frames.map((frame) => dataOf(frame).status),
          ["completed"]
        )
        assert.deepStrictEqual(dataOf(frames[0]).taskName, "greet")
      })
    )
  )

  it.effect(
    "replays what a client missed of a task that has ended, from the history, ending with its final status",
    () =>
      withApp(({ app, runtime }) =>
        Effect.gen(function* () {
          const started = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
          yield* runtime.handle(greet, String(started.id)).await
          const kept = yield* runtime.history({ taskId: String(started.id) })
          assert.deepStrictEqual(
            kept.map((event) => (event._tag === "StatusChanged" ? event.status : event._tag)),
            ["pending", "running", "completed"]
          )
          const seenFirst = String(kept[0]!.seq)
          const frames = yield* sseReader(
            yield* request(app, `/tasks/${started.id}/events`, { headers: { "Last-Event-ID": seenFirst } })
          ).rest
          assert.deepStrictEqual(
            frames.map((frame) => dataOf(frame).status),
            ["running", "completed"]
          )
        })
      )
  )

  it.effect("resumes with Last-Event-ID: events the client has seen are skipped", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const bodyStarted = yield* Deferred.make<void>()
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const started = yield* readJson(yield* postJson(app, "/tasks/gated", {}))
            yield* Deferred.await(bodyStarted)
            const path = `/tasks/${started.id}/events`
            const first = sseReader(yield* request(app, path))
            const running = yield* first.nextEvent
            assert.strictEqual(dataOf(running).status, "running")
            yield* first.cancel
            // Reconnects: one stream having seen the running event, one from before it.
            const resumed = sseReader(yield* request(app, path, { headers: { "last-event-id": running!.id! } }))
            const earlier = String(Number(running!.id) - 1)
            const fromEarlier = sseReader(yield* request(app, path, { headers: { "last-event-id": earlier } }))
            assert.deepStrictEqual(yield* resumed.next, { comment: "connected" })
            yield* Deferred.succeed(gate, undefined)
            const resumedFrames = yield* resumed.rest
            assert.deepStrictEqual(
              resumedFrames.map((frame) => dataOf(frame).status),
              ["completed"]
            )
            assert.isTrue(Number(resumedFrames[0]!.id) > Number(running!.id))
            const earlierFrames = yield* fromEarlier.rest
            assert.deepStrictEqual(
              earlierFrames.map((frame) => dataOf(frame).status),
              ["running", "completed"]
            )
          }),
        { tasks: [gatedTask(gate, bodyStarted)] }
      )
    })
  )

  it.effect("answers 404 for the events of an unknown task and 400 for a bad Last-Event-ID", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        yield* expectProblem(yield* request(app, "/tasks/nope/events"), 404, "TaskNotFound")
        for (const id of ["abc", "-1", "1.5", "9".repeat(20)]) {
          yield* expectProblem(
            yield* request(app, "/events", { headers: { "last-event-id": id } }),
            400,
            "InvalidRequest"
          )
        }
      })
    )
  )

  it.effect("streams every event of the runtime on /events", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const stream = sseReader(yield* request(app, "/events"))
        assert.deepStrictEqual(yield* stream.next, { comment: "connected" })
        const started = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        const frames = [yield* stream.nextEvent, yield* stream.nextEvent, yield* stream.nextEvent]
        assert.deepStrictEqual(
          frames.map((frame) => [dataOf(frame).taskId, dataOf(frame).status]),
          [
            [started.id, "pending"],
            [started.id, "running"],
            [started.id, "completed"]
          ]
        )
        assert.deepStrictEqual(
          frames.map((frame) => Number(frame!.id)),
          [1, 2, 3]
        )
        yield* stream.cancel
      })
    )
  )

  it.effect("replays the events a client missed from the runtime's history", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const running = yield* Deferred.make<void>()
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const all = sseReader(yield* request(app, "/events"))
            yield* all.next
            const started = yield* readJson(yield* postJson(app, "/tasks/gated", {}))
            yield* Deferred.await(running)
            const pending = yield* all.nextEvent
            assert.strictEqual(dataOf(pending).status, "pending")
            yield* all.cancel
            // The client saw `pending` and went away; `running` happened while it was gone.
            const headers = { "last-event-id": pending!.id! }
            const resumedAll = sseReader(yield* request(app, "/events", { headers }))
            const resumedTask = sseReader(yield* request(app, `/tasks/${started.id}/events`, { headers }))
            assert.strictEqual(dataOf(yield* resumedAll.nextEvent).status, "running")
            yield* Deferred.succeed(gate, undefined)
            assert.strictEqual(dataOf(yield* resumedAll.nextEvent).status, "completed")
            yield* resumedAll.cancel
            assert.deepStrictEqual(
              (yield* resumedTask.rest).map((frame) => dataOf(frame).status),
              ["running", "completed"]
            )
          }),
        { tasks: [gatedTask(gate, running)] }
      )
    })
  )

  it.effect("starts a task's stream over when Last-Event-ID is past the runtime's numbering (a restart)", () =>
    withApp(({ app, runtime }) =>
      Effect.gen(function* () {
        const started = yield* readJson(yield* postJson(app, "/tasks/greet", { name: "Ada" }))
        yield* runtime.handle(greet, String(started.id)).await
        const headers = { "last-event-id": "500" }
        const frames = yield* sseReader(yield* request(app, `/tasks/${started.id}/events`, { headers })).rest
        assert.deepStrictEqual(
          frames.map((frame) => dataOf(frame).status),
          ["completed"]
        )
      })
    )
  )

  it.effect("sends a heartbeat comment on the configured interval", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const stream = sseReader(yield* request(app, "/events"))
          assert.deepStrictEqual(yield* stream.next, { comment: "connected" })
          const heartbeat = yield* Effect.forkChild(stream.next)
          yield* TestClock.adjust("5 seconds")
          assert.deepStrictEqual(yield* Fiber.join(heartbeat), { comment: "heartbeat" })
          yield* stream.cancel
        }),
      { heartbeat: "5 seconds" }
    )
  )

  it.effect("frees the subscription when the client goes away", () =>
    Effect.gen(function* () {
      const freed = yield* Deferred.make<void>()
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            const stream = sseReader(yield* request(app, "/events"))
            yield* stream.next
            assert.isFalse(yield* Deferred.isDone(freed))
            yield* stream.cancel
            yield* Deferred.await(freed)
          }),
        {
          wrap: (runtime) => ({
            ...runtime,
            subscribe: (options) => runtime.subscribe(options).pipe(Stream.ensuring(Deferred.succeed(freed, undefined)))
          })
        }
      )
    })
  )

  it.effect("ends open streams when the app's Scope closes", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const scope = yield* Scope.make()
      const app = yield* makeApp({ runtime, tasks: [greet] }).pipe(Scope.provide(scope))
      const stream = sseReader(yield* request(app, "/events"))
      yield* stream.next
      yield* Scope.close(scope, Exit.void)
      assert.isUndefined(yield* stream.next)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("answers HEAD with the headers only", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const response = yield* request(app, "/events", { method: "HEAD" })
        assert.strictEqual(response.status, 200)
        assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
        assert.isNull(response.body)
      })
    )
  )
})
