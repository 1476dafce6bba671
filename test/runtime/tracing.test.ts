import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Option, Ref, Schema, Scope, Tracer } from "effect"
import { TestClock } from "effect/testing"
import {
  Children,
  LeaseLost,
  MemoryStore,
  MemoryTaskStore,
  Runtime,
  SnapshotPlugin,
  Snapshots,
  StatePlugin,
  step,
  TaskState,
  TaskStore,
  task
} from "../../src/index.ts"

/** A tracer that keeps every span it makes, as an exporter would receive them. */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const named = (name: string) => spans.filter((span) => span.name === name)
  const one = (name: string) => {
    const found = named(name)
    assert.strictEqual(found.length, 1, `one span named ${name}, found ${found.length}`)
    return found[0] as Tracer.NativeSpan
  }
  return { tracer, spans, named, one }
}

const parentIdOf = (span: Tracer.Span) => Option.getOrUndefined(span.parent)?.spanId
const attributesOf = (span: Tracer.Span, keys: ReadonlyArray<string>) =>
  Object.fromEntries(keys.map((key) => [key, span.attributes.get(key)]))
const taskKeys = [
  "waypoint.task.id",
  "waypoint.task.name",
  "waypoint.task.attempt",
  "waypoint.task.session",
  "waypoint.task.root"
]

const plugins = [StatePlugin.make(), SnapshotPlugin.make()] as const

const work = task({ name: "work", input: Schema.Null, output: Schema.Number }, () =>
  Effect.gen(function* () {
    const fetched = yield* step("fetch", Effect.succeed(41))
    yield* (yield* TaskState).set("seen", fetched)
    yield* (yield* Snapshots).save({ fetched })
    return fetched + 1
  })
)

describe("Runtime: tracing", () => {
  it.effect("makes one trace of a task: its create, its attempt, and the step, state write and snapshot save", () =>
    Effect.gen(function* () {
      const recorded = recordingTracer()
      const output = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins })
        const handle = yield* runtime.submit(work, null, { session: "s1" })
        const output = yield* handle.await
        const record = yield* runtime.get(handle.id)
        const create = recorded.one("Task.create")
        // the task keeps its create span as its trace context
        assert.deepStrictEqual(record.trace, { traceId: create.traceId, spanId: create.spanId, rootId: handle.id })

        const attempt = recorded.one("Task.attempt")
        assert.strictEqual(attempt.traceId, create.traceId)
        assert.strictEqual(parentIdOf(attempt), create.spanId)
        assert.deepStrictEqual(attributesOf(attempt, [...taskKeys, "waypoint.task.status"]), {
          "waypoint.task.id": handle.id,
          "waypoint.task.name": "work",
          "waypoint.task.attempt": 1,
          "waypoint.task.session": "s1",
          "waypoint.task.root": handle.id,
          "waypoint.task.status": "completed"
        })
        assert.isTrue(attempt.status._tag === "Ended" && Exit.isSuccess(attempt.status.exit))

        // what the body does is in the attempt's span, with the task's attributes
        for (const name of ["Durable.step", "TaskState.set", "Snapshots.save"]) {
          const span = recorded.one(name)
          assert.strictEqual(span.traceId, create.traceId, name)
          assert.strictEqual(parentIdOf(span), attempt.spanId, name)
          assert.deepStrictEqual(attributesOf(span, taskKeys), attributesOf(attempt, taskKeys), name)
        }
        assert.strictEqual(recorded.one("Durable.step").attributes.get("waypoint.step.name"), "fetch")
        return output
      }).pipe(Effect.scoped, Effect.provideService(Tracer.Tracer, recorded.tracer))
      assert.strictEqual(output, 42)
    }).pipe(Effect.provide(Layer.fresh(MemoryStore.layer)))
  )

  it.effect("continues a task's trace in a fresh runtime after a crash, from what the store kept", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const stepped = yield* Deferred.make<void>()
      // the first run takes its step and hangs until its runtime goes away; the next one ends
      const resumable = task({ name: "resumable", input: Schema.Null, output: Schema.Number }, () =>
        Effect.gen(function* () {
          const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
          const value = yield* step("once", Ref.get(runs))
          if (run === 1) {
            yield* Deferred.succeed(stepped, undefined)
            return yield* Effect.never
          }
          return value
        })
      )
      // two processes: each its own tracer, sharing nothing but the store
      const first = recordingTracer()
      const second = recordingTracer()
      const scope = yield* Scope.make()
      const id = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins })
        const handle = yield* runtime.submit(resumable, null)
        yield* Deferred.await(stepped)
        return handle.id
      }).pipe(Scope.provide(scope), Effect.provideService(Tracer.Tracer, first.tracer))
      yield* Scope.close(scope, Exit.void)
      const crashed = first.one("Task.attempt")
      assert.strictEqual(crashed.attributes.get("waypoint.task.status"), "pending")

      const output = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins, tasks: [resumable] })
        yield* runtime.resume(id)
        return yield* runtime.handle(resumable, id).await
      }).pipe(Effect.scoped, Effect.provideService(Tracer.Tracer, second.tracer))
      assert.strictEqual(output, 1, "the step's result recorded by the first run")

      const create = first.one("Task.create")
      const resumed = second.one("Task.attempt")
      assert.strictEqual(resumed.traceId, create.traceId)
      assert.strictEqual(parentIdOf(resumed), create.spanId)
      // a shutdown is not a retry: the same attempt, run again
      assert.strictEqual(resumed.attributes.get("waypoint.task.attempt"), 1)
      assert.strictEqual(resumed.attributes.get("waypoint.task.status"), "completed")
      // the claim that took it back is in the same trace
      const claim = second.one("Task.claim")
      assert.deepStrictEqual([claim.traceId, parentIdOf(claim)], [create.traceId, create.spanId])
      const replayed = second.one("Durable.step")
      assert.deepStrictEqual(
        [replayed.traceId, parentIdOf(replayed), replayed.attributes.get("waypoint.step.recorded")],
        [create.traceId, resumed.spanId, true]
      )
    }).pipe(Effect.provide(Layer.fresh(MemoryStore.layer)))
  )

  it.effect("puts a child's spans in its parent's trace, under the join and the parent's attempt", () =>
    Effect.gen(function* () {
      const recorded = recordingTracer()
      // the child ends once its parent waits for it
      const gate = yield* Deferred.make<void>()
      const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) =>
        Effect.as(Deferred.await(gate), n * 2)
      )
      const parent = task({ name: "parent", input: Schema.Number, output: Schema.Number }, (n) =>
        Effect.map(Children.all([Children.spec(double, n, { key: "a" })]), ([doubled]) => doubled + 1)
      )
      const { output, parentId } = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ tasks: [parent, double] })
        const handle = yield* runtime.submit(parent, 20)
        while ((yield* handle.status) !== "suspended") yield* Effect.yieldNow
        yield* Deferred.succeed(gate, undefined)
        return { output: yield* handle.await, parentId: handle.id }
      }).pipe(Effect.scoped, Effect.provideService(Tracer.Tracer, recorded.tracer))
      assert.strictEqual(output, 41)

      const traceId = recorded
        .named("Task.create")
        .find((span) => span.attributes.get("waypoint.task.id") === parentId)?.traceId
      assert.isDefined(traceId)
      const ofTask = (name: string) =>
        recorded.named("Task.attempt").filter((span) => span.attributes.get("waypoint.task.name") === name)
      // the parent waits for its child (one attempt), then runs again and finds it ended (another)
      const parentAttempts = ofTask("parent")
      const childAttempts = ofTask("double")
      assert.strictEqual(childAttempts.length, 1)
      for (const span of recorded.spans) assert.strictEqual(span.traceId, traceId, span.name)
      const childCreate = recorded
        .named("Task.create")
        .find((span) => span.attributes.get("waypoint.task.name") === "double") as Tracer.NativeSpan
      const join = recorded.named("Children.all")[0] as Tracer.NativeSpan
      assert.strictEqual(parentIdOf(childCreate), join.spanId)
      assert.strictEqual(parentIdOf(join), parentAttempts[0]?.spanId)
      assert.strictEqual(parentIdOf(childAttempts[0] as Tracer.NativeSpan), childCreate.spanId)
      assert.deepStrictEqual(attributesOf(childAttempts[0] as Tracer.NativeSpan, ["waypoint.task.root"]), {
        "waypoint.task.root": parentId
      })
      // the first join found its child running: it ends well, before the wait ends the attempt
      assert.deepStrictEqual(
        [join.attributes.get("waypoint.children.count"), join.attributes.get("waypoint.children.waiting")],
        [1, 1]
      )
      assert.isTrue(join.status._tag === "Ended" && Exit.isSuccess(join.status.exit))
    }).pipe(Effect.provide(Layer.fresh(MemoryStore.layer)))
  )

  it.effect("recovers a task in its own trace, the recovery's span linking to it", () =>
    Effect.gen(function* () {
      const recorded = recordingTracer()
      const store = yield* TaskStore
      const trace = { traceId: "a".repeat(32), spanId: "b".repeat(16), rootId: "orphan" }
      // a process with identity "worker-1" claimed the task and died
      yield* store.create({ id: "orphan", name: "work", input: null, trace })
      yield* store.claim("orphan", { owner: "worker-1", expiresAt: 3_600_000 })
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ id: "worker-1", plugins, tasks: [work] })
        assert.deepStrictEqual(yield* runtime.recover, ["orphan"])
        assert.strictEqual(yield* runtime.handle(work, "orphan").await, 42)
      }).pipe(Effect.scoped, Effect.provideService(Tracer.Tracer, recorded.tracer))
      const recover = recorded.one("Runtime.recover")
      assert.strictEqual(recover.attributes.get("waypoint.runtime.recovered"), 1)
      assert.deepStrictEqual(
        recover.links.map((link) => [link.span.traceId, link.span.spanId]),
        [[trace.traceId, trace.spanId]]
      )
      const attempt = recorded.one("Task.attempt")
      assert.deepStrictEqual([attempt.traceId, parentIdOf(attempt)], [trace.traceId, trace.spanId])
    }).pipe(Effect.provide(Layer.fresh(MemoryStore.layer)))
  )

  it.effect("tells a lost lease in the attempt's span, which ends with the attempt's interruption", () =>
    Effect.gen(function* () {
      const recorded = recordingTracer()
      const started = yield* Deferred.make<void>()
      const hangs = task({ name: "hangs", input: Schema.Null }, () =>
        Effect.andThen(Deferred.succeed(started, undefined), Effect.never)
      )
      const memory = yield* MemoryTaskStore.make
      // another process took the task: this one's next heartbeat finds the lease lost
      const stolen = TaskStore.of({
        ...memory,
        heartbeat: (id, token) => Effect.fail(new LeaseLost({ taskId: id, token }))
      })
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ leaseDuration: "3 seconds" })
        yield* runtime.submit(hangs, null)
        yield* Deferred.await(started)
        yield* TestClock.adjust("1 second")
      }).pipe(
        Effect.scoped,
        Effect.provideService(TaskStore, stolen),
        Effect.provideService(Tracer.Tracer, recorded.tracer)
      )
      // the first attempt's: the runtime, still owner in this fake store, may claim the task again
      const attempt = recorded.named("Task.attempt")[0] as Tracer.NativeSpan
      const lost = recorded.named("Task.leaseLost")[0] as Tracer.NativeSpan
      assert.deepStrictEqual([lost.traceId, parentIdOf(lost)], [attempt.traceId, attempt.spanId])
      assert.strictEqual(lost.attributes.get("waypoint.task.id"), attempt.attributes.get("waypoint.task.id"))
      assert.isNumber(lost.attributes.get("waypoint.task.fencing_token"))
      assert.strictEqual(attempt.status._tag, "Ended")
    })
  )

  it.effect(
    "keeps no trace context and makes no task span without a tracer of the program's own, or with tracing off",
    () =>
      Effect.gen(function* () {
        const recorded = recordingTracer()
        const runOnce = Effect.gen(function* () {
          const store = yield* TaskStore
          const runtime = yield* Runtime.make({ plugins })
          const handle = yield* runtime.submit(work, null)
          assert.strictEqual(yield* handle.await, 42)
          return Option.getOrThrow(yield* store.get(handle.id)).trace
        }).pipe(Effect.scoped, Effect.provide(Layer.fresh(MemoryStore.layer)))
        assert.isUndefined(yield* runOnce)
        assert.isUndefined(
          yield* runOnce.pipe(Effect.withTracerEnabled(false), Effect.provideService(Tracer.Tracer, recorded.tracer))
        )
        assert.deepStrictEqual(recorded.spans, [])
      })
  )
})
