/**
 * The README's OTLP paragraph, as written there (with `effect-waypoint` for `../../src/index.ts`), type-checked by
 * `npm run typecheck`; `test/tracing/otlp.test.ts` runs the same layer against a collector in process.
 */
import { Effect, Layer, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { MemoryStore, Runtime, StatePlugin, step, task } from "../../src/index.ts"

// Every task's spans (attempts, steps, state writes, snapshot saves, claims, recoveries, child joins) go to the
// collector's OTLP/HTTP endpoint, batched; an attempt resumed in another process continues its task's trace.
export const Tracing = OtlpTracer.layer({
  url: "http://localhost:4318/v1/traces",
  resource: { serviceName: "my-agents" }
}).pipe(Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer]))

const research = task({ name: "research", input: Schema.String, output: Schema.String }, (topic) =>
  step("search", Effect.succeed(`notes on ${topic}`))
)

export const program = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
  return yield* runtime.run(research, "tracing")
})

// The tracer is provided around the runtime (and the callers that submit): a task's spans use the runtime's.
export const main = () => Effect.runPromise(program.pipe(Effect.scoped, Effect.provide([MemoryStore.layer, Tracing])))
