import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Ref, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, Runtime, TaskInfo, TaskStore, task } from "../../src/index.ts"
import { StoreError } from "../../src/stores/errors.ts"
import { Boom, withRuntime } from "./fixtures.ts"

describe("Runtime: cancel", () => {
  it.effect("cancels a running task: its fiber is interrupted, finalizers run, it ends cancelled", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const finalized = yield* Ref.make(false)
        const forever = task({ name: "forever", input: Schema.Void }, () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.ensuring(Ref.set(finalized, true))
          )
        )
        const handle = yield* runtime.submit(forever, undefined)
        yield* Deferred.await(started)
        yield* handle.cancel
        assert.isTrue(yield* Ref.get(finalized))
        assert.strictEqual(yield* handle.status, "cancelled")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "TaskCancelled")
      })
    )
  )

  it.effect("cancels a direct run from another fiber", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<string>()
        const forever = task({ name: "forever-direct", input: Schema.Void }, () =>
          Effect.flatMap(Effect.service(TaskInfo), (info) => Deferred.succeed(started, info.id)).pipe(
            Effect.andThen(Effect.never)
          )
        )
        const fiber = yield* Effect.forkChild(runtime.run(forever, undefined))
        const id = yield* Deferred.await(started)
        yield* runtime.cancel(id)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit))
          assert.strictEqual(Option.getOrThrow(Exit.findErrorOption(exit))._tag, "TaskCancelled")
        assert.strictEqual((yield* runtime.get(id)).status, "cancelled")
      })
    )
  )

  it.effect("lets a cancelled body see shouldStop and stop by itself within the grace period, completing", () =>
    Effect.gen(function* () {
      const stoppedCleanly = yield* Ref.make(false)
      const started = yield* Deferred.make<void>()
      const polite = task({ name: "polite", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const info = yield* TaskInfo
          yield* Deferred.succeed(started, undefined)
          while (!(yield* info.shouldStop)) yield* Effect.sleep("1 second")
          yield* Ref.set(stoppedCleanly, true)
          return "stopped"
        })
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(polite, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.isTrue(yield* Ref.get(stoppedCleanly))
      // it returned within the grace period: it completed, with what it returned
      assert.strictEqual(yield* handle.status, "completed")
      assert.strictEqual(yield* handle.await, "stopped")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("interrupts a cancelled body that ignores shouldStop once the grace period has passed", () =>
    Effect.gen(function* () {
      const finalized = yield* Ref.make(false)
      const started = yield* Deferred.make<void>()
      const stubborn = task({ name: "stubborn", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(stubborn, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("9 seconds")
      assert.isFalse(yield* Ref.get(finalized))
      assert.strictEqual(yield* handle.status, "running")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.isTrue(yield* Ref.get(finalized))
      assert.strictEqual(yield* handle.status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a body that cancels its own task ends it cancelled", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const quitter = task({ name: "quitter", input: Schema.Void }, () =>
          Effect.flatMap(TaskInfo, (info) => runtime.cancel(info.id)).pipe(
            Effect.andThen(Effect.succeed("not reached"))
          )
        )
        const handle = yield* runtime.submit(quitter, undefined)
        assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
        assert.strictEqual((yield* handle.info).status, "cancelled")
      })
    )
  )

  it.effect("cancelling a parent that waits for its retry cancels its children", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const child = task({ name: "child", input: Schema.Void }, () => Effect.never)
        const childIds = yield* Ref.make<ReadonlyArray<string>>([])
        const parent = task({ name: "parent", input: Schema.Void, retry: Schedule.spaced("1 hour") }, () =>
          Effect.gen(function* () {
            const started = yield* runtime.submit(child, undefined)
            yield* Ref.update(childIds, (ids) => [...ids, started.id])
            return yield* new Boom({ reason: "later" })
          })
        )
        const handle = yield* runtime.submit(parent, undefined)
        yield* Effect.yieldNow
        assert.strictEqual((yield* handle.info).status, "pending")
        yield* handle.cancel
        const [childId] = yield* Ref.get(childIds)
        assert.deepStrictEqual(
          [(yield* handle.info).status, (yield* runtime.get(childId ?? "")).status],
          ["cancelled", "cancelled"]
        )
      })
    )
  )

  it.effect("cancelling a parent cancels its children", () =>
    Effect.gen(function* () {
      const childStarted = yield* Deferred.make<string>()
      const childFinalized = yield* Ref.make(false)
      const runtimeRef = yield* Deferred.make<Runtime.Runtime<never>>()
      const child = task({ name: "child", input: Schema.Void }, () =>
        Effect.flatMap(Effect.service(TaskInfo), (info) => Deferred.succeed(childStarted, info.id)).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(childFinalized, true))
        )
      )
      const parent = task({ name: "parent", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const runtime = yield* Deferred.await(runtimeRef)
          const handle = yield* runtime.submit(child, undefined)
          return yield* handle.await
        })
      )
      const runtime = yield* Runtime.make()
      yield* Deferred.succeed(runtimeRef, runtime)
      const handle = yield* runtime.submit(parent, undefined)
      const childId = yield* Deferred.await(childStarted)
      assert.strictEqual((yield* runtime.get(childId)).parentId, handle.id)
      yield* handle.cancel
      assert.strictEqual(yield* handle.status, "cancelled")
      assert.strictEqual((yield* runtime.get(childId)).status, "cancelled")
      assert.isTrue(yield* Ref.get(childFinalized))
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel the store refuses tells the waiter, and leaves the task to resume later", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const refusing = TaskStore.of({
        ...memory,
        cancelIdle: (id) => Effect.fail(new StoreError({ operation: "cancelIdle", cause: new Error(`down: ${id}`) }))
      })
      const runtime = yield* Runtime.make().pipe(Effect.provideService(TaskStore, refusing))
      const gate = yield* Deferred.make<void>()
      const single = task({ name: "single", input: Schema.Number, maxParallel: 1 }, (i) =>
        Effect.as(Deferred.await(gate), i)
      )
      const first = yield* runtime.submit(single, 1)
      const second = yield* runtime.submit(single, 2)
      yield* Effect.yieldNow
      assert.strictEqual(yield* second.status, "pending", "waits for the slot the first holds")
      assert.strictEqual((yield* Effect.flip(second.cancel))._tag, "StoreError")
      assert.strictEqual((yield* Effect.flip(second.await))._tag, "TaskCancelled")
      assert.strictEqual(yield* second.status, "pending", "the store did not record the cancel")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* first.await, 1)
      yield* runtime.resume(second.id)
      assert.strictEqual(yield* runtime.handle(single, second.id).await, 2)
    }).pipe(Effect.scoped)
  )
})
