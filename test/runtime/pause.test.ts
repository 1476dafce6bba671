import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, plugin, Runtime, type StatusChanged, TaskStore, task } from "../../src/index.ts"
import { Boom, greet, withRuntime } from "./fixtures.ts"

describe("Runtime: pause and resume", () => {
  it.effect("pauses a running task from outside and resumes it: the body runs again from its start", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const finalized = yield* Ref.make(0)
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const pausable = task({ name: "pausable", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            if (run === 1) {
              yield* Deferred.succeed(started, undefined)
              yield* Effect.never
            }
            yield* Deferred.await(release)
            return run
          }).pipe(Effect.ensuring(Ref.update(finalized, (n) => n + 1)))
        )
        const handle = yield* runtime.submit(pausable, undefined)
        yield* Deferred.await(started)
        yield* runtime.pause(handle.id)
        assert.strictEqual(yield* Ref.get(finalized), 1)
        const paused = yield* handle.info
        assert.deepStrictEqual(
          [paused.status, paused.suspendReason, paused.attempt],
          ["suspended", { _tag: "Paused" }, 1]
        )
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* Ref.get(runs), 1, "a paused task stays paused")
        yield* runtime.resume(handle.id)
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual(yield* handle.await, 2)
        const error = yield* Effect.flip(runtime.pause(handle.id))
        assert.strictEqual(error._tag, "InvalidTransition")
      })
    )
  )

  it.effect(
    "a pause that comes while an ended attempt is being recorded pauses the retry, or fails if the task ended",
    () =>
      Effect.gen(function* () {
        const memory = yield* MemoryTaskStore.make
        // A store slow to record an attempt's end: the window in which the body has ended but its outcome is not stored.
        const gates = new Map<
          string,
          { readonly finishing: Deferred.Deferred<void>; readonly open: Deferred.Deferred<void> }
        >()
        const gateFor = (id: string) =>
          Effect.map(Effect.all([Deferred.make<void>(), Deferred.make<void>()]), ([finishing, open]) => {
            gates.set(id, { finishing, open })
            return { finishing, open }
          })
        const slow = TaskStore.of({
          ...memory,
          finish: (id, token, transition) => {
            const gate = gates.get(id)
            const held =
              gate === undefined
                ? Effect.void
                : Effect.andThen(Deferred.succeed(gate.finishing, undefined), Deferred.await(gate.open))
            return Effect.andThen(held, memory.finish(id, token, transition))
          }
        })
        const attempts = yield* Ref.make(0)
        const flaky = task(
          { name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 2 })) },
          () =>
            Effect.flatMap(
              Ref.updateAndGet(attempts, (n) => n + 1),
              (n) => new Boom({ reason: `attempt ${n}` })
            )
        )
        const runtime = yield* Runtime.make({ tasks: [flaky, greet] }).pipe(Effect.provideService(TaskStore, slow))

        const retried = yield* gateFor("retried")
        const handle = yield* runtime.submit(flaky, undefined, { id: "retried" })
        yield* Deferred.await(retried.finishing)
        const pausing = yield* Effect.forkChild(runtime.pause(handle.id), { startImmediately: true })
        yield* Deferred.succeed(retried.open, undefined)
        yield* Fiber.join(pausing)
        const paused = Option.getOrThrow(yield* memory.get(handle.id))
        assert.deepStrictEqual(
          [paused.status, paused.suspendReason, paused.attempt],
          ["suspended", { _tag: "Paused" }, 2]
        )
        // its events in the order its record went through them
        const statuses = (yield* runtime.history({ taskId: handle.id })).map((event) => (event as StatusChanged).status)
        assert.deepStrictEqual(statuses, ["pending", "running", "pending", "suspended"])
        // the retry's time comes and goes: paused, it does not run
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual(yield* Ref.get(attempts), 1)

        // The same window for a body that succeeded: the task has ended, there is nothing to pause.
        const ended = yield* gateFor("ended")
        const greeted = yield* runtime.submit(greet, { name: "Ada" }, { id: "ended" })
        yield* Deferred.await(ended.finishing)
        const refusing = yield* Effect.forkChild(Effect.flip(runtime.pause(greeted.id)), { startImmediately: true })
        yield* Deferred.succeed(ended.open, undefined)
        assert.strictEqual((yield* Fiber.join(refusing))._tag, "InvalidTransition")
        assert.strictEqual(yield* greeted.await, "hello Ada")
      }).pipe(Effect.scoped)
  )

  it.effect("pauses a task whose onStart hooks are running: its body does not start until resumed", () =>
    Effect.gen(function* () {
      const inHook = yield* Deferred.make<void>()
      const hookGate = yield* Deferred.make<void>()
      const slowStart = plugin({
        name: "slow-start",
        layer: Layer.empty,
        hooks: {
          onStart: () =>
            Deferred.isDone(hookGate).pipe(
              Effect.flatMap((open) =>
                open ? Effect.void : Effect.andThen(Deferred.succeed(inHook, undefined), Deferred.await(hookGate))
              )
            )
        }
      })
      const runs = yield* Ref.make(0)
      const counted = task({ name: "counted", input: Schema.Void }, () => Ref.updateAndGet(runs, (n) => n + 1))
      const runtime = yield* Runtime.make({ plugins: [slowStart] })
      const handle = yield* runtime.submit(counted, undefined)
      yield* Deferred.await(inHook)
      const pausing = yield* Effect.forkChild(runtime.pause(handle.id), { startImmediately: true })
      yield* Deferred.succeed(hookGate, undefined)
      yield* Fiber.join(pausing)
      const paused = yield* handle.info
      assert.deepStrictEqual(
        [paused.status, paused.suspendReason, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 0]
      )
      yield* runtime.resume(handle.id)
      assert.strictEqual(yield* handle.await, 1)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("pauses a task that waits for a slot, and resumes it", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const single = task({ name: "single-pause", input: Schema.Number, maxParallel: 1 }, (n) =>
          n === 0 ? Deferred.await(gate).pipe(Effect.as(n)) : Effect.succeed(n)
        )
        const first = yield* runtime.submit(single, 0)
        const second = yield* runtime.submit(single, 1)
        yield* Effect.yieldNow
        assert.strictEqual(yield* second.status, "pending")
        yield* runtime.pause(second.id)
        assert.strictEqual(yield* second.status, "suspended")
        yield* Deferred.succeed(gate, undefined)
        yield* first.await
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(yield* second.status, "suspended")
        yield* runtime.resume(second.id)
        assert.strictEqual(yield* second.await, 1)
      })
    )
  )
})
