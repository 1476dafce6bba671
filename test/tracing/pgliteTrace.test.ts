import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Option, Ref, Schema, Scope, Tracer } from "effect"
import { Runtime, TaskStore, task } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"
import { tempDir } from "../stores/postgres/pgliteTemplate.ts"

/** A tracer that keeps the spans it makes. */
const recordingTracer = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  return { tracer, named: (name: string) => spans.filter((span) => span.name === name) }
}

describe("PgliteStore: trace context", () => {
  it.live(
    "keeps a task's trace context across a close and a reopen, so its next attempt continues the trace",
    () =>
      Effect.gen(function* () {
        const dataDir = join(yield* tempDir, "data")
        const runs = yield* Ref.make(0)
        const started = yield* Deferred.make<void>()
        // the first run hangs until its process goes away; the next one ends
        const resumable = task({ name: "resumable", input: Schema.Null, output: Schema.Number }, () =>
          Effect.flatMap(
            Ref.updateAndGet(runs, (n) => n + 1),
            (run) =>
              run === 1 ? Effect.andThen(Deferred.succeed(started, undefined), Effect.never) : Effect.succeed(run)
          )
        )
        const traces = [1, 2, 3].map((n) => ({
          traceId: `${n}`.repeat(32),
          spanId: `${n}`.repeat(16),
          rootId: `b${n}`
        }))

        const first = recordingTracer()
        // the store and the runtime in one scope, closed as a process ends: the runtime first, then the store
        const scope = yield* Scope.make()
        const stores = yield* Layer.buildWithScope(PgliteStore.layer({ dataDir }), scope)
        const id = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          // created at once: all but the first go as one batched INSERT
          yield* Effect.forEach(
            traces,
            (trace) => store.create({ id: trace.rootId, name: "job", input: null, trace }),
            {
              concurrency: "unbounded"
            }
          )
          const runtime = yield* Runtime.make()
          const handle = yield* runtime.submit(resumable, null)
          yield* Deferred.await(started)
          return handle.id
        }).pipe(Effect.provideService(Tracer.Tracer, first.tracer), Scope.provide(scope), Effect.provideContext(stores))
        yield* Scope.close(scope, Exit.void)

        const second = recordingTracer()
        const { output, kept } = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          const runtime = yield* Runtime.make({ tasks: [resumable] })
          yield* runtime.resume(id)
          const output = yield* runtime.handle(resumable, id).await
          const kept = yield* Effect.forEach(traces, (trace) =>
            Effect.map(store.get(trace.rootId), (found) => Option.getOrThrow(found).trace)
          )
          return { output, kept }
        }).pipe(
          Effect.scoped,
          Effect.provideService(Tracer.Tracer, second.tracer),
          Effect.provide(PgliteStore.layer({ dataDir }), { local: true })
        )
        assert.strictEqual(output, 2)
        assert.deepStrictEqual(kept, traces)
        const [create] = first.named("Task.create")
        const [resumed] = second.named("Task.attempt")
        assert.isDefined(create)
        assert.isDefined(resumed)
        assert.strictEqual(resumed?.traceId, create?.traceId)
        assert.strictEqual(Option.getOrUndefined(resumed?.parent ?? Option.none())?.spanId, create?.spanId)
      }),
    30_000 // a fresh folder runs initdb: seconds, more on a loaded machine
  )
})
