import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Schedule, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, plugin, Runtime, TaskInfo, TaskStore, task } from "../../src/index.ts"
import { Boom } from "./fixtures.ts"

describe("Runtime: cancel and pause asked from another runtime", () => {
  it.effect("cancels a task that runs in another runtime: the store tells that runtime, which stops it at once", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(false)
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds", cancelGracePeriod: 0 })
      const elsewhere = yield* Runtime.make({ tasks: [long] })
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // no time passes: no heartbeat carried it
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.isTrue(yield* Ref.get(finalized))
      assert.strictEqual((yield* elsewhere.get(handle.id)).status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel from another runtime that its holder did not hear of comes with the next heartbeat", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      // a store whose requests nobody hears (a listener reconnecting)
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // asked, not done yet: the runtime running it hears of it at its next heartbeat, a third of the lease on
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* handle.info).status, "running")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
    }).pipe(Effect.scoped)
  )

  it.effect("a cancel asked from another runtime is not lost when the attempt ends before it hears of it", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
        Ref.update(runs, (n) => n + 1).pipe(
          Effect.andThen(Deferred.succeed(started, undefined)),
          Effect.andThen(Deferred.await(gate)),
          Effect.andThen(Effect.fail(new Boom({ reason: "again" })))
        )
      )
      const running = yield* Runtime.make()
      const elsewhere = yield* Runtime.make({ tasks: [flaky] })
      const handle = yield* running.submit(flaky, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // the attempt fails before any heartbeat: its retry is recorded as the cancel
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual([(yield* elsewhere.get(handle.id)).status, yield* Ref.get(runs)], ["cancelled", 1])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel from a runtime that only waits for a task another runs asks the one that runs it", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make()
      const waiting = yield* Runtime.make({ tasks: [long] })
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      // a driver here waits for the other runtime's lease
      yield* waiting.resume(handle.id)
      yield* waiting.cancel(handle.id)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.strictEqual((yield* waiting.get(handle.id)).status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a waiter in a runtime that asked another for a cancel sees how the task ends: here, completed", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const quick = task({ name: "quick", input: Schema.Void, output: Schema.String }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.as("done"))
      )
      const running = yield* Runtime.make()
      const waiting = yield* Runtime.make({ tasks: [quick] })
      const handle = yield* running.submit(quick, undefined, { idempotencyKey: "k" })
      yield* Deferred.await(started)
      // a direct run with the same key waits here, through a driver of its own, for the task the other runs
      const there = yield* Effect.forkChild(waiting.run(quick, undefined, { idempotencyKey: "k" }), {
        startImmediately: true
      })
      yield* waiting.cancel(handle.id)
      // the attempt completes before any heartbeat carried the cancel to it
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* handle.await, "done")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(there), "done")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("pauses a task that runs in another runtime, which stops it at once; resumed, it runs again", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(0)
      const pausable = task({ name: "pausable", input: Schema.Void, output: Schema.Number }, () =>
        Effect.gen(function* () {
          const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
          if (run === 1) yield* Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
          return run
        }).pipe(Effect.ensuring(Ref.update(finalized, (n) => n + 1)))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" })
      const elsewhere = yield* Runtime.make({ tasks: [pausable] })
      const handle = yield* running.submit(pausable, undefined)
      const paused = yield* Effect.forkChild(
        Stream.runHead(
          Stream.filter(
            running.subscribe({ taskId: handle.id }),
            (event) => event._tag === "StatusChanged" && event.status === "suspended"
          )
        ),
        { startImmediately: true }
      )
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      // no time passes: no heartbeat carried it
      yield* Fiber.join(paused)
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual(
        [record.status, record.suspendReason, record.leaseOwner, yield* Ref.get(finalized)],
        ["suspended", { _tag: "Paused" }, undefined, 1]
      )
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* Ref.get(runs), 1, "a paused task stays paused")
      yield* elsewhere.resume(handle.id)
      assert.strictEqual(yield* elsewhere.handle(pausable, handle.id).await, 2)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a pause from another runtime that its holder did not hear of comes with the next heartbeat", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* handle.info).status, "running")
      yield* TestClock.adjust("1 second")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual([record.status, record.suspendReason], ["suspended", { _tag: "Paused" }])
    }).pipe(Effect.scoped)
  )

  it.effect("a resume that comes before the holder heard of a pause withdraws it: the task keeps running", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      yield* elsewhere.resume(handle.id)
      // heartbeats come and go: none carries a pause
      yield* TestClock.adjust("1 minute")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual([record.status, record.attempt], ["running", 1])
    }).pipe(Effect.scoped)
  )

  it.effect("a pause asked from another runtime is not lost when the attempt ends first: the retry is paused", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
        Ref.update(runs, (n) => n + 1).pipe(
          Effect.andThen(Deferred.succeed(started, undefined)),
          Effect.andThen(Deferred.await(gate)),
          Effect.andThen(Effect.fail(new Boom({ reason: "again" })))
        )
      )
      const hooked = yield* Ref.make<ReadonlyArray<string>>([])
      const watching = plugin({
        name: "watching",
        layer: Layer.empty,
        hooks: {
          beforeSuspend: (_, reason) => Ref.update(hooked, (all) => [...all, `beforeSuspend ${reason._tag}`]),
          onSuspend: (_, reason) => Ref.update(hooked, (all) => [...all, `onSuspend ${reason._tag}`])
        }
      })
      const running = yield* Runtime.make({ plugins: [watching] }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [flaky] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(flaky, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      // the attempt fails before any heartbeat: its retry is recorded paused
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("1 minute")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual(
        [record.status, record.suspendReason, record.attempt, record.error?.tag, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 2, "Boom", 1]
      )
      // the hooks of a suspension ran, as for a pause carried out here
      assert.deepStrictEqual(yield* Ref.get(hooked), ["beforeSuspend Paused", "onSuspend Paused"])
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a pause from another runtime carried out while the attempt's retry is written leaves no pause behind",
    () =>
      Effect.gen(function* () {
        const memory = yield* MemoryTaskStore.make
        const writing = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const heard = yield* Deferred.make<void>()
        // the first requeue is written only once the gate opens; a heartbeat that carries the pause says so
        const slowRequeue = TaskStore.of({
          ...memory,
          heartbeat: (id, token, expiresAt) =>
            memory
              .heartbeat(id, token, expiresAt)
              .pipe(
                Effect.tapError((error) =>
                  error._tag === "PauseRequested" ? Deferred.succeed(heard, undefined) : Effect.void
                )
              ),
          finish: (id, token, transition) =>
            transition._tag === "Requeued" && transition.attempt === 2
              ? Deferred.succeed(writing, undefined).pipe(
                  Effect.andThen(Deferred.await(gate)),
                  Effect.andThen(memory.finish(id, token, transition))
                )
              : memory.finish(id, token, transition)
        })
        const started = yield* Deferred.make<number>()
        const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
          Effect.flatMap(TaskInfo, (info) =>
            info.attempt === 1
              ? Effect.fail(new Boom({ reason: "again" }))
              : Deferred.succeed(started, info.attempt).pipe(Effect.andThen(Effect.never))
          )
        )
        const elsewhere = yield* Runtime.make({ tasks: [flaky] }).pipe(Effect.provideService(TaskStore, memory))
        const id = yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(
              Effect.provideService(TaskStore, slowRequeue)
            )
            const handle = yield* running.submit(flaky, undefined)
            yield* Deferred.await(writing)
            // asked while the retry is being written: the store records the pause instead of the retry
            yield* elsewhere.pause(handle.id)
            // the holder hears of it, and its pause waits for the retry's write
            yield* Deferred.await(heard)
            for (let i = 0; i < 10; i++) yield* Effect.yieldNow
            yield* Deferred.succeed(gate, undefined)
            const paused = yield* elsewhere
              .get(handle.id)
              .pipe(Effect.repeat({ until: (record) => record.status !== "running" }))
            assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused" }])
            // resumed here, its next attempt runs; then this runtime shuts down
            yield* running.resume(handle.id)
            assert.strictEqual(yield* Deferred.await(started), 2)
            return handle.id
          })
        )
        // a shutdown hands the attempt back: no pause left over from the first one applies to it
        const record = Option.getOrThrow(yield* memory.get(id))
        assert.deepStrictEqual([record.status, record.attempt], ["pending", 2])
      })
  )
})
