import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { MemoryStore, MemoryTaskStore, Runtime, task } from "../../src/index.ts"

const echo = task({ name: "echo", input: Schema.String, output: Schema.String }, (text) => Effect.succeed(text))

describe("Runtime: its public API at the edges", () => {
  it.effect("a signal through a runtime whose stores keep no signals fails with StoreMissing, naming the store", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const waits = task({ name: "waits", input: Schema.Void }, () => Effect.never)
      const handle = yield* runtime.submit(waits, undefined)
      const error = yield* Effect.flip(handle.signal("go", 1))
      assert.strictEqual(error._tag, "StoreMissing")
      if (error._tag === "StoreMissing") {
        assert.deepStrictEqual([error.store, error.operation], ["StepStore", "signal"])
        assert.include(error.message, "MemoryStore.layer")
      }
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("submitting with an id another task has fails with TaskIdTaken, and leaves that task as it was", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      assert.strictEqual(yield* runtime.run(echo, "first", { id: "taken" }), "first")
      const error = yield* Effect.flip(runtime.submit(echo, "second", { id: "taken" }))
      assert.deepStrictEqual([error._tag, error._tag === "TaskIdTaken" ? error.taskId : ""], ["TaskIdTaken", "taken"])
      const ran = yield* Effect.flip(runtime.run(echo, "third", { id: "taken" }))
      assert.strictEqual(ran._tag, "TaskIdTaken")
      const record = yield* runtime.get("taken")
      assert.deepStrictEqual([record.status, record.input, record.output], ["completed", "first", "first"])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("a session's submit takes an idempotency key: a retried submit returns the first task", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const session = runtime.session("s")
      const first = yield* session.submit(echo, "once", { idempotencyKey: "k" })
      const again = yield* session.submit(echo, "once", { idempotencyKey: "k" })
      assert.strictEqual(again.id, first.id)
      assert.strictEqual(yield* again.await, "once")
      const page = yield* session.list({})
      assert.deepStrictEqual(
        page.items.map((t) => [t.id, t.sessionId]),
        [[first.id, "s"]]
      )
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )
})
