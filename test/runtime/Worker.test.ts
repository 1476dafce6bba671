import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Option, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTaskStore, Runtime, TaskStore, task } from "../../src/index.ts"

/** Which worker runs a body (read with serviceOption, so tasks need not require it). */
class WorkerName extends Context.Service<WorkerName, string>()("test/WorkerName") {}

const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n * 2))

describe("Worker", () => {
  it.effect("claims and runs tasks that another process put in the store", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (let i = 1; i <= 5; i++) yield* store.create({ id: `t${i}`, name: "double", input: i })
      yield* store.create({ id: "unknown", name: "not-mine", input: 0 })
      yield* Runtime.make({ id: "worker", tasks: [double], worker: { concurrency: 2, pollInterval: "1 second" } })
      yield* TestClock.adjust("5 seconds")
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow // the worker looks again at once after a full round
      for (let i = 1; i <= 5; i++) {
        const record = Option.getOrThrow(yield* store.get(`t${i}`))
        assert.deepStrictEqual([record.status, record.output, record.leaseOwner], ["completed", i * 2, undefined])
      }
      assert.strictEqual(Option.getOrThrow(yield* store.get("unknown")).status, "pending", "not a task it knows")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("wakes for a new task at once, without waiting for its poll interval", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* Runtime.make({ id: "worker", tasks: [double], worker: { pollInterval: "1 hour" } })
      yield* TestClock.adjust("1 second") // the worker has looked once and now waits
      yield* store.create({ id: "fresh", name: "double", input: 4 })
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.strictEqual(Option.getOrThrow(yield* store.get("fresh")).output, 8)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("takes the next waiting task as soon as a slot frees, without waiting for its poll interval", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      const gate = yield* Deferred.make<void>()
      const gated = task({ name: "gated", input: Schema.Number, output: Schema.Number }, (n) =>
        Effect.as(Deferred.await(gate), n)
      )
      for (let i = 1; i <= 3; i++) yield* store.create({ id: `g${i}`, name: "gated", input: i })
      yield* Runtime.make({ id: "worker", tasks: [gated], worker: { concurrency: 1, pollInterval: "1 hour" } })
      yield* TestClock.adjust("1 second") // the worker has taken one task and is full
      const running = (yield* store.list({ status: "running" })).items
      assert.strictEqual(running.length, 1)
      yield* Deferred.succeed(gate, undefined)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      // The clock has not moved past the poll interval: the freed slot made the worker look again.
      for (let i = 1; i <= 3; i++) assert.strictEqual(Option.getOrThrow(yield* store.get(`g${i}`)).status, "completed")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("takes over a task whose worker died once its lease has expired, at the same attempt", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "orphan", name: "double", input: 21 })
      yield* store.claim("orphan", { owner: "dead-worker", expiresAt: 30_000 })
      yield* Runtime.make({ id: "survivor", tasks: [double], worker: { pollInterval: "1 second" } })
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(Option.getOrThrow(yield* store.get("orphan")).leaseOwner, "dead-worker")
      yield* TestClock.adjust("2 seconds")
      const record = Option.getOrThrow(yield* store.get("orphan"))
      assert.deepStrictEqual([record.status, record.output, record.attempt], ["completed", 42, 1])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("fences out an attempt whose lease another worker took: it is interrupted and writes nothing", () =>
    Effect.gen(function* () {
      const inner = yield* TaskStore
      // Worker A's heartbeats are lost while it is "frozen" (as a process stopped with SIGSTOP would be).
      const frozen = yield* Ref.make(false)
      const frozenStore = TaskStore.of({
        ...inner,
        heartbeat: (id, token, expiresAt) =>
          Effect.flatMap(Ref.get(frozen), (isFrozen) =>
            isFrozen ? Effect.void : inner.heartbeat(id, token, expiresAt)
          )
      })
      const startedBy = yield* Ref.make<ReadonlyArray<string>>([])
      const finalizedBy = yield* Ref.make<ReadonlyArray<string>>([])
      const aStarted = yield* Deferred.make<void>()
      const slow = task({ name: "slow", input: Schema.Void, output: Schema.String }, () =>
        Effect.gen(function* () {
          const who = yield* Effect.serviceOption(WorkerName)
          const name = Option.getOrElse(who, () => "?")
          yield* Ref.update(startedBy, (all) => [...all, name])
          if (name === "A") yield* Deferred.succeed(aStarted, undefined)
          yield* Effect.sleep(name === "A" ? "10 minutes" : "1 second")
          return `done by ${name}`
        }).pipe(
          Effect.onInterrupt(() =>
            Effect.flatMap(Effect.serviceOption(WorkerName), (who) =>
              Ref.update(finalizedBy, (all) => [...all, Option.getOrElse(who, () => "?")])
            )
          )
        )
      )
      const a = yield* Runtime.make({ id: "A", tasks: [slow], leaseDuration: "30 seconds" }).pipe(
        Effect.provideService(TaskStore, frozenStore),
        Effect.provideService(WorkerName, "A")
      )
      const handle = yield* a.submit(slow, undefined).pipe(Effect.provideService(WorkerName, "A"))
      yield* Deferred.await(aStarted)
      yield* Ref.set(frozen, true)
      yield* Runtime.make({ id: "B", tasks: [slow], worker: { pollInterval: "1 second" } }).pipe(
        Effect.provideService(WorkerName, "B")
      )
      yield* TestClock.adjust("31 seconds") // A's lease expires; B takes the task over
      assert.strictEqual(Option.getOrThrow(yield* inner.get(handle.id)).leaseOwner, "B")
      yield* Ref.set(frozen, false) // A wakes up: its next heartbeat finds the lease lost
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Ref.get(finalizedBy), ["A"])
      const record = Option.getOrThrow(yield* inner.get(handle.id))
      assert.deepStrictEqual([record.status, record.output, record.attempt], ["completed", "done by B", 1])
      assert.deepStrictEqual(yield* Ref.get(startedBy), ["A", "B"])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
