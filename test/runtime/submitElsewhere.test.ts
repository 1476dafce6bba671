import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, Runtime, task } from "../../src/index.ts"

describe("Runtime: submitRunsHere: false", () => {
  it.effect(
    "records a submitted task pending for the workers, runs none of it here, and its handle reads the store",
    () =>
      Effect.gen(function* () {
        const ranBy = yield* Ref.make<ReadonlyArray<string>>([])
        const make = (id: string, submitRunsHere: boolean) =>
          Runtime.make({
            id,
            submitRunsHere,
            tasks: [
              task({ name: "job", input: Schema.Number, output: Schema.Number }, (n) =>
                Effect.as(
                  Ref.update(ranBy, (all) => [...all, id]),
                  n * 2
                )
              )
            ]
          })
        const server = yield* make("server", false)
        const worker = yield* make("worker", true)
        const job = task({ name: "job", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n))
        const handle = yield* server.submit(job, 21)
        const record = yield* server.get(handle.id)
        assert.deepStrictEqual([record.status, record.leaseOwner], ["pending", undefined])
        const awaiting = yield* Effect.forkChild(handle.await)
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* Ref.get(ranBy), [], "the server ran nothing")
        // a worker takes it (here by resume, as a worker's poll would find it)
        yield* worker.resume(handle.id)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* Fiber.join(awaiting), 42)
        assert.deepStrictEqual(yield* Ref.get(ranBy), ["worker"])
      }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
