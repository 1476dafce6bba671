import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, Option, Ref, Schema, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, plugin, Runtime, type StatusChanged, TaskInfo, TaskStore, task } from "../../src/index.ts"
import { LeaseLost } from "../../src/stores/errors.ts"
import { greet } from "./fixtures.ts"

describe("Runtime: shutdown, recovery and lost replies", () => {
  it.effect("interrupts running tasks on shutdown and records them pending at the same attempt", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(false)
      const forever = task({ name: "forever", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const store = yield* TaskStore
      const scope = yield* Scope.make()
      const runtime = yield* Runtime.make().pipe(Scope.provide(scope))
      const handle = yield* runtime.submit(forever, undefined)
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* Ref.get(finalized))
      const record = Option.getOrThrow(yield* store.get(handle.id))
      assert.deepStrictEqual([record.status, record.attempt, record.leaseOwner], ["pending", 1, undefined])
      // Another runtime over the same store picks it up where it was left.
      const resumed = yield* Runtime.make({ tasks: [forever] })
      yield* resumed.resume(handle.id)
      yield* Effect.yieldNow
      assert.strictEqual(Option.getOrThrow(yield* store.get(handle.id)).status, "running")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("recovers the tasks its own identity left running, without waiting for a lease to expire", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // A process with identity "worker-1" claimed the task and died: the record says running, owned by worker-1.
      yield* store.create({ id: "orphan", name: "greet", input: { name: "again" } })
      yield* store.claim("orphan", { owner: "worker-1", expiresAt: 3_600_000 })
      const runtime = yield* Runtime.make({ id: "worker-1", tasks: [greet] })
      assert.deepStrictEqual(yield* runtime.recover, ["orphan"])
      assert.strictEqual(yield* runtime.handle(greet, "orphan").await, "hello again")
      const record = yield* runtime.get("orphan")
      assert.deepStrictEqual([record.status, record.attempt], ["completed", 1])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect(
    "says which recovered task it has no definition for, and leaves it pending for a runtime that has one",
    () =>
      Effect.gen(function* () {
        const logs: Array<string> = []
        const store = yield* TaskStore
        yield* store.create({ id: "orphan", name: "greet", input: { name: "again" } })
        yield* store.claim("orphan", { owner: "worker-1", expiresAt: 3_600_000 })
        const runtime = yield* Runtime.make({ id: "worker-1" })
        const recovered = yield* runtime.recover.pipe(
          Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => logs.push(line))]))
        )
        assert.deepStrictEqual(recovered, ["orphan"])
        assert.strictEqual(Option.getOrThrow(yield* store.get("orphan")).status, "pending")
        assert.isTrue(
          logs.some((line) => line.includes('task \\"greet\\" (orphan) has no definition in this runtime')),
          logs.join("\n")
        )
      }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel that comes while a claim is written cancels the claimed task, whose body never runs", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const written = yield* Deferred.make<void>()
      const reply = yield* Deferred.make<void>()
      // A store whose claim is written at once and answers later, as a database's reply on its way.
      const slowReply = TaskStore.of({
        ...memory,
        claim: (id, lease) =>
          Effect.flatMap(memory.claim(id, lease), (claimed) =>
            Deferred.succeed(written, undefined).pipe(Effect.andThen(Deferred.await(reply)), Effect.as(claimed))
          )
      })
      const runs = yield* Ref.make(0)
      // with a limit, a task is created pending and its driver claims it
      const limited = task({ name: "limited", input: Schema.Void, maxParallel: 1 }, () =>
        Ref.update(runs, (n) => n + 1)
      )
      const runtime = yield* Runtime.make().pipe(Effect.provideService(TaskStore, slowReply))
      const handle = yield* runtime.submit(limited, undefined)
      yield* Deferred.await(written)
      const cancelling = yield* Effect.forkChild(handle.cancel, { startImmediately: true })
      yield* Deferred.succeed(reply, undefined)
      yield* Fiber.join(cancelling)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      const record = Option.getOrThrow(yield* memory.get(handle.id))
      assert.deepStrictEqual([record.status, yield* Ref.get(runs)], ["cancelled", 0])
    }).pipe(Effect.scoped)
  )

  it.effect("a pause that comes while a claim is written pauses the claimed task, whose body never runs", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const written = yield* Deferred.make<void>()
      const reply = yield* Deferred.make<void>()
      // A store whose claim is written at once and answers later, as a database's reply on its way.
      const slowReply = TaskStore.of({
        ...memory,
        claim: (id, lease) =>
          Effect.flatMap(memory.claim(id, lease), (claimed) =>
            Deferred.succeed(written, undefined).pipe(Effect.andThen(Deferred.await(reply)), Effect.as(claimed))
          )
      })
      const runs = yield* Ref.make(0)
      // with a limit, a task is created pending and its driver claims it
      const limited = task({ name: "limited", input: Schema.Void, maxParallel: 1 }, () =>
        Ref.update(runs, (n) => n + 1).pipe(Effect.andThen(Effect.never))
      )
      const runtime = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(
        Effect.provideService(TaskStore, slowReply)
      )
      const handle = yield* runtime.submit(limited, undefined)
      yield* Deferred.await(written)
      // the task says `running`, under this runtime's lease, but no attempt of it executes here yet
      yield* runtime.pause(handle.id)
      yield* Deferred.succeed(reply, undefined)
      yield* TestClock.adjust("10 seconds")
      const record = Option.getOrThrow(yield* memory.get(handle.id))
      assert.deepStrictEqual(
        [record.status, record.suspendReason, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 0]
      )
    }).pipe(Effect.scoped)
  )

  it.effect("a pause the store carried out for this runtime leaves nothing behind: resumed, the task completes", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // left running under this runtime's identity by a previous life of it, with a live lease
      yield* store.create({ id: "t", name: "greet", input: { name: "again" } })
      yield* store.claim("t", { owner: "r1", expiresAt: 30_000 })
      const runtime = yield* Runtime.make({ id: "r1", tasks: [greet] })
      // a driver here waits for the lease; a pause is asked of this runtime's claim to come, and of the store
      yield* runtime.resume("t")
      yield* runtime.pause("t")
      // the lease expires: the store's claim carries out the pause
      yield* TestClock.adjust("31 seconds")
      const paused = yield* runtime.get("t")
      assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused" }])
      yield* runtime.resume("t")
      assert.strictEqual(yield* runtime.handle(greet, "t").await, "hello again")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a lease lost while an attempt's onStart hooks run keeps that attempt's body from starting", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const inHook = yield* Deferred.make<void>()
      const hookGate = yield* Deferred.make<void>()
      const firstToken = yield* Ref.make<number | undefined>(undefined)
      // The first attempt's heartbeat is refused, as after another worker's claim; later ones are kept.
      const stolen = TaskStore.of({
        ...memory,
        heartbeat: (id, token, expiresAt) =>
          Effect.flatMap(Ref.get(firstToken), (first) =>
            first === token ? Effect.fail(new LeaseLost({ taskId: id, token })) : memory.heartbeat(id, token, expiresAt)
          )
      })
      const slowStart = plugin({
        name: "slow-start",
        layer: Layer.empty,
        hooks: {
          onStart: (info) =>
            Deferred.isDone(hookGate).pipe(
              Effect.flatMap((open) =>
                open
                  ? Effect.void
                  : Ref.set(firstToken, info.fencingToken).pipe(
                      Effect.andThen(Deferred.succeed(inHook, undefined)),
                      Effect.andThen(Deferred.await(hookGate))
                    )
              )
            )
        }
      })
      const tokens = yield* Ref.make<ReadonlyArray<number>>([])
      const counted = task({ name: "counted", input: Schema.Void }, () =>
        Effect.flatMap(TaskInfo, (info) => Ref.update(tokens, (all) => [...all, info.fencingToken]))
      )
      const runtime = yield* Runtime.make({ plugins: [slowStart], leaseDuration: "30 seconds" }).pipe(
        Effect.provideService(TaskStore, stolen)
      )
      const handle = yield* runtime.submit(counted, undefined)
      yield* Deferred.await(inHook)
      // the heartbeat, a third of the lease on, finds the lease lost while the hook still runs
      yield* TestClock.adjust("10 seconds")
      yield* Deferred.succeed(hookGate, undefined)
      yield* TestClock.adjust("1 second")
      yield* handle.await
      const fenced = yield* Ref.get(firstToken)
      const ran = yield* Ref.get(tokens)
      assert.isDefined(fenced)
      assert.isFalse(
        ran.some((token) => token === fenced),
        "the fenced attempt's body ran"
      )
      assert.strictEqual(ran.length, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("ends normally when its finish was written but the reply was lost (LeaseLost on the retry)", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      // As a statement retried after a dropped connection: the first try committed, the retry finds its token spent.
      const lostReply = TaskStore.of({
        ...memory,
        finish: (id, token, transition) =>
          Effect.andThen(memory.finish(id, token, transition), Effect.fail(new LeaseLost({ taskId: id, token })))
      })
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const watcher = plugin({
        name: "watcher",
        layer: Layer.empty,
        hooks: {
          onSuccess: (info, output) => Ref.update(seen, (all) => [...all, `success ${info.name} ${String(output)}`]),
          onFinish: (info, status) => Ref.update(seen, (all) => [...all, `finish ${info.name} ${status}`])
        }
      })
      const runtime = yield* Runtime.make({ plugins: [watcher] }).pipe(Effect.provideService(TaskStore, lostReply))
      // Subscribed before the submit: the task ends within it.
      const events = yield* Effect.forkChild(
        Stream.runCollect(
          runtime
            .subscribe({ taskId: "lost-reply" })
            .pipe(Stream.takeUntil((event) => event._tag === "StatusChanged" && event.status === "completed"))
        ),
        { startImmediately: true }
      )
      const handle = yield* runtime.submit(greet, { name: "lost" }, { id: "lost-reply" })
      assert.strictEqual(yield* handle.await, "hello lost")
      const statuses = (yield* Fiber.join(events)).map((event) => (event as StatusChanged).status)
      assert.deepStrictEqual(statuses, ["pending", "running", "completed"])
      assert.deepStrictEqual(yield* Ref.get(seen), ["success greet hello lost", "finish greet completed"])
    }).pipe(Effect.scoped)
  )
})
