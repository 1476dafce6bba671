import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Schema } from "effect"
import { toEventView } from "../../src/http/schema.ts"
import { Children, task } from "../../src/index.ts"
import { suspend } from "../../src/runtime/Suspension.ts"
import { readJson, request, withApp } from "./fixtures.ts"

const MiB = 1024 * 1024

/** Takes about 1 MiB of input and answers about 1 MiB of output, as the tasks of the report did. */
const large = task({ name: "large", input: Schema.Struct({ blob: Schema.String }) }, ({ blob }) =>
  Effect.succeed({ echo: blob })
)

/** Fails with a message of 2 MiB. */
const loud = task({ name: "loud", input: Schema.Struct({}) }, () => Effect.fail(new Error("x".repeat(2 * MiB))))

describe("GET /tasks", () => {
  it.effect("lists large tasks in a small page: no item carries input or output, which GET /tasks/:id still has", () =>
    withApp(
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const ids: Array<string> = []
          for (let i = 0; i < 24; i++) {
            const handle = yield* runtime.submit(large, { blob: String(i).padEnd(MiB, "y") })
            yield* handle.await
            ids.push(handle.id)
          }
          const failing = yield* runtime.submit(loud, {})
          yield* Effect.exit(failing.await)

          const response = yield* request(app, "/tasks?limit=1000")
          assert.strictEqual(response.status, 200)
          const text = yield* Effect.promise(() => response.text())
          assert.isBelow(text.length, 25 * 2048) // about 300 bytes an item; it was 2 MiB an item
          const page = JSON.parse(text) as { items: Array<Record<string, unknown>> }
          assert.strictEqual(page.items.length, 25)
          for (const item of page.items) {
            assert.notProperty(item, "input")
            assert.notProperty(item, "output")
          }
          const failed = page.items.find((item) => item.id === failing.id)
          assert.deepStrictEqual(failed?.error, { tag: "Error", message: "x".repeat(1024) })

          const whole = yield* readJson(yield* request(app, `/tasks/${ids[3]}`))
          assert.deepStrictEqual(whole.input, { blob: "3".padEnd(MiB, "y") })
          assert.deepStrictEqual(whole.output, { echo: "3".padEnd(MiB, "y") })
          const error = (yield* readJson(yield* request(app, `/tasks/${failing.id}`))).error as { message: string }
          assert.strictEqual(error.message.length, 2 * MiB)
        }),
      { tasks: [large, loud] }
    )
  )

  it.effect("refuses a page larger than the documented maximum with a 400 problem", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const document = yield* readJson(yield* request(app, "/openapi.json"))
        const list = (document.paths as Record<string, { get: { parameters: Array<Record<string, unknown>> } }>)[
          "/tasks"
        ]
        const limit = list?.get.parameters.find((parameter) => parameter.name === "limit")
        assert.deepInclude(limit?.schema as object, { type: "integer", minimum: 1, maximum: 1000 })
        assert.strictEqual((yield* request(app, "/tasks?limit=1000")).status, 200)
        const refused = yield* request(app, "/tasks?limit=1001")
        assert.strictEqual(refused.status, 400)
        assert.strictEqual(refused.headers.get("content-type"), "application/problem+json")
      })
    )
  )
})

describe("times in answers", () => {
  it.effect(
    "are RFC 3339 strings everywhere: a suspension's until, an inspection's runAt, the list's and events'",
    () =>
      withApp(
        ({ app, runtime }) =>
          Effect.gen(function* () {
            const sleeper = task({ name: "sleeper", input: Schema.Struct({}) }, () =>
              suspend({ _tag: "Paused", until: 60_000 }, 60_000)
            )
            const handle = yield* runtime.submit(sleeper, {})
            yield* Effect.yieldNow
            assert.strictEqual(yield* handle.status, "suspended")
            const isIso = (value: unknown) =>
              typeof value === "string" && DateTime.isDateTime(DateTime.makeUnsafe(value)) && value.endsWith("Z")
            const one = (yield* readJson(yield* request(app, `/tasks/${handle.id}`))) as {
              suspendReason: { until: unknown }
              runAt: unknown
              inspection: { runAt: unknown; reason: string }
            }
            assert.isTrue(isIso(one.suspendReason.until), String(one.suspendReason.until))
            assert.isTrue(isIso(one.runAt), String(one.runAt))
            assert.strictEqual(one.inspection.reason, "sleeping-until")
            assert.isTrue(isIso(one.inspection.runAt), String(one.inspection.runAt))
            const list = (yield* readJson(yield* request(app, "/tasks"))) as {
              items: Array<{ suspendReason?: { until: unknown } }>
            }
            assert.isTrue(isIso(list.items[0]?.suspendReason?.until))
            const events = yield* runtime.history({ taskId: handle.id })
            const suspended = events
              .map(toEventView)
              .find((e) => e._tag === "StatusChanged" && e.status === "suspended")
            const reason = suspended?._tag === "StatusChanged" ? suspended.suspendReason : undefined
            assert.isTrue(reason?._tag === "Paused" && isIso(reason.until), JSON.stringify(suspended))
          }),
        { tasks: [] }
      )
  )
})

describe("children over HTTP", () => {
  it.effect("lists a task's children (?parent=) and shows a task's child counts and a child's key", () =>
    withApp(
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) =>
            Effect.succeed(n * 2)
          )
          const parent = task({ name: "parent", input: Schema.Struct({}), output: Schema.Array(Schema.Number) }, () =>
            Children.all([1, 2, 3].map((n) => Children.spec(double, n, { key: `double-${n}` })))
          )
          const handle = yield* runtime.submit(parent, {})
          assert.deepStrictEqual(yield* handle.await, [2, 4, 6])
          const list = (yield* readJson(yield* request(app, `/tasks?parent=${handle.id}`))) as {
            items: Array<{ name: string; parentId: string; childKey: string }>
          }
          assert.deepStrictEqual(
            list.items.map((item) => [item.name, item.parentId, item.childKey]).sort(),
            [1, 2, 3].map((n) => ["double", handle.id, `double-${n}`])
          )
          const one = (yield* readJson(yield* request(app, `/tasks/${handle.id}`))) as {
            children?: { total: number; ended: number }
          }
          assert.deepStrictEqual(one.children, { total: 3, ended: 3 })
        }),
      { tasks: [] }
    )
  )
})
