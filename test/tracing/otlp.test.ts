import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { MemoryStore, Runtime, StatePlugin, step, task } from "../../src/index.ts"

interface ExportedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string | undefined
  readonly name: string
  readonly attributes: ReadonlyArray<{ readonly key: string; readonly value: Record<string, unknown> }>
}

/** An OTLP/HTTP collector in this process: the spans of every JSON export it receives. */
const collector = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly url: string; readonly spans: Array<ExportedSpan>; readonly close: () => void }>(
        (resolve) => {
          const spans: Array<ExportedSpan> = []
          const server = createServer((request, response) => {
            let body = ""
            request.on("data", (chunk) => {
              body += chunk
            })
            request.on("end", () => {
              const data = JSON.parse(body) as {
                resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<ExportedSpan> }> }>
              }
              for (const resource of data.resourceSpans)
                for (const scope of resource.scopeSpans) spans.push(...scope.spans)
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          server.listen(0, "127.0.0.1", () => {
            const { port } = server.address() as AddressInfo
            resolve({ url: `http://127.0.0.1:${port}/v1/traces`, spans, close: () => server.close() })
          })
        }
      )
  ),
  (server) => Effect.sync(server.close)
)

const research = task({ name: "research", input: Schema.String, output: Schema.String }, (topic) =>
  step("search", Effect.succeed(`notes on ${topic}`))
)

const attribute = (span: ExportedSpan, key: string) => {
  const value = span.attributes.find((a) => a.key === key)?.value
  return value === undefined ? undefined : Object.values(value)[0]
}

describe("Tracing: OTLP", () => {
  it.live("exports a task's spans, in one trace, to an OTLP collector with the README's layer", () =>
    Effect.gen(function* () {
      const { url, spans } = yield* collector
      // the README's layer, with this collector's address
      const Tracing = OtlpTracer.layer({ url, resource: { serviceName: "my-agents" } }).pipe(
        Layer.provide([OtlpSerialization.layerJson, FetchHttpClient.layer])
      )
      const output = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
        return yield* runtime.run(research, "tracing")
      }).pipe(Effect.scoped, Effect.provide([MemoryStore.layer, Tracing])) // its end sends what is left
      assert.strictEqual(output, "notes on tracing")

      const byName = (name: string) => spans.find((span) => span.name === name)
      const create = byName("Task.create")
      const attempt = byName("Task.attempt")
      const search = byName("Durable.step")
      assert.isDefined(create)
      assert.isDefined(attempt)
      assert.isDefined(search)
      assert.deepStrictEqual(
        [attempt?.traceId, attempt?.parentSpanId, search?.traceId, search?.parentSpanId],
        [create?.traceId, create?.spanId, create?.traceId, attempt?.spanId]
      )
      assert.deepStrictEqual(
        ["waypoint.task.name", "waypoint.task.attempt", "waypoint.step.name"].map((key) =>
          attribute(search as ExportedSpan, key)
        ),
        ["research", 1, "search"]
      )
    })
  )
})
