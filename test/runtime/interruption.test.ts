import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, Runtime, TaskInfo, TaskStore, task } from "../../src/index.ts"

class Stopping extends Schema.TaggedError<Stopping>()("Stopping", {}) {}

/** A body that ends interrupted by itself: it interrupts a fiber of its own and joins it. */
const selfInterrupting = (runs: Ref.Ref<number>) =>
  Effect.gen(function* () {
    yield* Ref.update(runs, (n) => n + 1)
    const child = yield* Effect.forkChild(Effect.never)
    yield* Fiber.interrupt(child)
    return yield* Fiber.join(child)
  })

describe("Runtime: interruptions", () => {
  it.effect("a body that interrupts itself fails its attempt with TaskInterrupted, once, and is not re-run", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const self = task({ name: "self", input: Schema.Void }, () => selfInterrupting(runs))
      const runtime = yield* Runtime.make()
      const error = yield* Effect.flip(runtime.run(self, undefined))
      assert.strictEqual(error._tag, "TaskInterrupted")
      assert.strictEqual(yield* Ref.get(runs), 1)
      const [record] = (yield* runtime.list({})).items
      assert.deepStrictEqual([record?.status, record?.attempt, record?.error?.tag], ["failed", 1, "TaskInterrupted"])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a body ending in Effect.interrupt goes through the retry Schedule like any failure", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const quits = task(
        { name: "quits", input: Schema.Void, retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 })) },
        () =>
          Effect.andThen(
            Ref.update(runs, (n) => n + 1),
            Effect.interrupt
          )
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(quits, undefined)
      yield* Effect.yieldNow
      assert.strictEqual(yield* Ref.get(runs), 1)
      const waiting = yield* handle.info
      assert.deepStrictEqual([waiting.status, waiting.attempt, waiting.runAt], ["pending", 2, 1000])
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskInterrupted")
      assert.strictEqual(yield* Ref.get(runs), 3)
      const record = yield* handle.info
      assert.deepStrictEqual([record.status, record.attempt], ["failed", 3])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("an interruption of the caller of `run` hands the task back pending at the same attempt", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<string>()
      const finalized = yield* Ref.make(false)
      const forever = task({ name: "forever-run", input: Schema.Void }, () =>
        Effect.flatMap(TaskInfo, (info) => Deferred.succeed(started, info.id)).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const store = yield* TaskStore
      const runtime = yield* Runtime.make()
      const caller = yield* Effect.forkChild(runtime.run(forever, undefined))
      const id = yield* Deferred.await(started)
      yield* Fiber.interrupt(caller)
      assert.isTrue(yield* Ref.get(finalized))
      const record = Option.getOrThrow(yield* store.get(id))
      assert.deepStrictEqual([record.status, record.attempt, record.leaseOwner], ["pending", 1, undefined])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a timeout around `run` hands the task back pending, as `submit` and `await` do", () =>
    Effect.gen(function* () {
      const slow = task({ name: "slow", input: Schema.Void }, () => Effect.sleep("1 hour"))
      const store = yield* TaskStore
      const runtime = yield* Runtime.make()
      const direct = yield* Effect.forkChild(Effect.timeoutOption(runtime.run(slow, undefined), "1 minute"))
      const handle = yield* runtime.submit(slow, undefined)
      const awaited = yield* Effect.forkChild(Effect.timeoutOption(handle.await, "1 minute"))
      yield* TestClock.adjust("1 minute")
      assert.isTrue(Option.isNone(yield* Fiber.join(direct)))
      assert.isTrue(Option.isNone(yield* Fiber.join(awaited)))
      const statuses = (yield* runtime.list({})).items.map((t) => t.status).sort()
      // the direct run was handed back; the submitted one still runs (only its waiter gave up)
      assert.deepStrictEqual(statuses, ["pending", "running"])
      const directRecord = (yield* runtime.list({ status: "pending" })).items[0]
      assert.strictEqual(Option.getOrThrow(yield* store.get(directRecord?.id ?? "")).attempt, 1)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("an interrupted `run` that joined a task submitted here leaves that task running", () =>
    Effect.gen(function* () {
      const gate = yield* Deferred.make<void>()
      const gated = task({ name: "gated-join", input: Schema.Void, output: Schema.String }, () =>
        Effect.as(Deferred.await(gate), "done")
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(gated, undefined, { idempotencyKey: "k" })
      const joined = yield* Effect.forkChild(runtime.run(gated, undefined, { idempotencyKey: "k" }), {
        startImmediately: true
      })
      yield* Fiber.interrupt(joined)
      assert.strictEqual(yield* handle.status, "running")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* handle.await, "done")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancelled body that returns within the grace period completes with what it returned", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const polite = task({ name: "polite-return", input: Schema.Void, output: Schema.String }, () =>
        Effect.gen(function* () {
          const info = yield* TaskInfo
          yield* Deferred.succeed(started, undefined)
          while (!(yield* info.shouldStop)) yield* Effect.sleep("1 second")
          return "Cancelled"
        })
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(polite, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.strictEqual(yield* handle.await, "Cancelled")
      const record = yield* handle.info
      assert.deepStrictEqual([record.status, record.output], ["completed", "Cancelled"])
      // a handle made from the id, reading the store, sees the same
      assert.strictEqual(yield* runtime.handle(polite, handle.id).await, "Cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancelled body that fails within the grace period ends cancelled", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const grumpy = task({ name: "grumpy", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const info = yield* TaskInfo
          yield* Deferred.succeed(started, undefined)
          while (!(yield* info.shouldStop)) yield* Effect.sleep("1 second")
          return yield* new Stopping()
        })
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(grumpy, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.strictEqual(yield* handle.status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a shutdown still interrupts a running body and hands the task back at the same attempt", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const forever = task({ name: "forever-shutdown", input: Schema.Void }, () =>
        Effect.andThen(Deferred.succeed(started, undefined), Effect.never)
      )
      const store = yield* TaskStore
      const exit = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const handle = yield* runtime.submit(forever, undefined)
        yield* Deferred.await(started)
        return handle.id
      }).pipe(Effect.scoped, Effect.exit)
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        const record = Option.getOrThrow(yield* store.get(exit.value))
        assert.deepStrictEqual([record.status, record.attempt], ["pending", 1])
      }
    }).pipe(Effect.provide(MemoryTaskStore.layer))
  )
})
