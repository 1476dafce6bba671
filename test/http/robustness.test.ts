import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Hono } from "hono"
import { countTasks, request, withApp } from "./fixtures.ts"

/** A small seeded generator, so a failing request can be reproduced. */
const random = (seed: number) => {
  let state = seed >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1))
  const pick = <A>(items: ReadonlyArray<A>): A => items[int(0, items.length - 1)] as A
  const text = (alphabet: string, length: number) => {
    const chars = Array.from(alphabet)
    return Array.from({ length }, () => chars[int(0, chars.length - 1)]).join("")
  }
  return { next, int, pick, text }
}

interface Case {
  readonly kind: string
  readonly path: string
  readonly init: RequestInit
}

const LIMIT = 4096
const json = { "content-type": "application/json" }

const isJson = (text: string) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** Requests that must all be refused with a 4xx: none may start a task or fail the server. */
const malformedRequests = (count: number): Array<Case> => {
  const r = random(20261123)
  const post = (body: NonNullable<RequestInit["body"]>, headers: Record<string, string> = json): RequestInit => ({
    method: "POST",
    body,
    headers
  })
  const wrongValue = () =>
    r.pick<unknown>([
      r.int(-1e6, 1e6),
      r.next(),
      true,
      false,
      null,
      [],
      [r.text("abc", 3)],
      {},
      { nested: r.text("xyz", 4) }
    ])
  const generators: ReadonlyArray<() => Case> = [
    () => {
      let body = r.text('{}[]":,abc123 \\\n\ttrue', r.int(0, 200))
      while (isJson(body)) body = `${body}{`
      return { kind: "bad JSON", path: r.pick(["/tasks/greet", "/tasks/order"]), init: post(`${body}`) }
    },
    () => {
      const body = r.pick<unknown>([{ name: wrongValue() }, {}, { nom: "Ada" }, wrongValue(), "Ada", [{ name: "Ada" }]])
      return { kind: "wrong types (greet)", path: "/tasks/greet", init: post(JSON.stringify(body)) }
    },
    () => {
      const body = r.pick<unknown>([
        { sku: wrongValue(), quantity: 1 },
        { sku: "a", quantity: r.pick([0, -1, 1.5, "1", null, Number.MAX_VALUE * 0, -r.int(1, 100)]) },
        { sku: "a" },
        { quantity: 2 },
        { sku: "a", quantity: 1, note: wrongValue() }
      ])
      return { kind: "wrong types (order)", path: "/tasks/order", init: post(JSON.stringify(body)) }
    },
    () => {
      const size = r.int(LIMIT + 1, LIMIT * 5)
      const body = JSON.stringify({ name: r.text("abcdefgh", size) })
      const variant = r.int(0, 2)
      if (variant === 0) return { kind: "huge body", path: "/tasks/greet", init: post(body) }
      if (variant === 1) {
        return {
          kind: "huge body, small Content-Length",
          path: "/tasks/greet",
          init: post(body, { ...json, "content-length": "12" })
        }
      }
      const bytes = new TextEncoder().encode(body)
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000))
          controller.close()
        }
      })
      return {
        kind: "huge streamed body",
        path: "/tasks/greet",
        init: { ...post(stream), duplex: "half" } as RequestInit
      }
    },
    () => {
      const depth = r.int(65, 5000)
      const body =
        r.next() < 0.5 ? "[".repeat(depth) + "]".repeat(depth) : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
      return { kind: "deep nesting", path: "/tasks/greet", init: post(body) }
    },
    () => {
      const id = r.pick([
        r.text("abcdef0123456789-", r.int(1, 40)),
        r.text("%0%f%ZZ%00%E0%A4%A", r.int(1, 30)),
        "x".repeat(r.int(256, 3000)),
        encodeURIComponent(r.text("\u00e9\u4e2d\u{1F600}\u0000\n", r.int(1, 10))),
        "...",
        "%2e%2e%2e"
      ])
      const route = r.int(0, 2)
      if (route === 0) return { kind: "bad id", path: `/tasks/${id}`, init: { method: "GET" } }
      if (route === 1) return { kind: "bad id (cancel)", path: `/tasks/${id}/cancel`, init: { method: "POST" } }
      return { kind: "bad id (events)", path: `/tasks/${id}/events`, init: { method: "GET" } }
    },
    () => {
      const type = r.pick([
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin1",
        "application/jsonx",
        "json",
        "application/x-www-form-urlencoded",
        ""
      ])
      const headers: Record<string, string> = type === "" ? {} : { "content-type": type }
      return { kind: "bad content type", path: "/tasks/greet", init: post('{"name":"Ada"}', headers) }
    },
    () => {
      const key = r.pick(["has space", "x".repeat(r.int(256, 600)), "caf\u00e9", "\t", "a\u00ffb"])
      return {
        kind: "bad Idempotency-Key",
        path: "/tasks/greet",
        init: post('{"name":"Ada"}', { ...json, "idempotency-key": key })
      }
    },
    () => {
      const id = r.pick(["abc", "-1", "1e5", "1.5", " ", "9".repeat(r.int(16, 40)), "0x10"])
      const path = r.pick(["/events", "/tasks/some-id/events"])
      return { kind: "bad Last-Event-ID", path, init: { method: "GET", headers: { "last-event-id": id } } }
    },
    () => {
      const query = r.pick([
        `limit=${r.pick(["0", "-5", "1001", "abc", "2.5", "", "1e9", "NaN", "Infinity"])}`,
        `status=${r.pick(["done", "RUNNING", "", "pending,running"])}`,
        `cursor=${r.pick(["!!", "%%", "a b", "*"])}`,
        `session=${r.pick(["", "s".repeat(r.int(256, 400))])}`,
        `name=${r.pick(["", "n".repeat(r.int(256, 400))])}`
      ])
      return { kind: "bad query", path: `/tasks?${query}`, init: { method: "GET" } }
    },
    () => {
      const method = r.pick(["PUT", "DELETE", "PATCH"])
      const path = r.pick([
        "/tasks",
        "/tasks/greet",
        "/tasks/x/cancel",
        "/tasks/x/events",
        "/events",
        "/health",
        "/openapi.json"
      ])
      return { kind: "wrong method", path, init: { method } }
    },
    () => {
      const path = r.pick(["/events", "/tasks", "/health", "/openapi.json", "/tasks/x/events"])
      return { kind: "POST to a GET route", path, init: post('{"name":"Ada"}') }
    },
    () => ({
      kind: "unknown task",
      path: `/tasks/${encodeURIComponent(r.text("abcxyz_-.", r.int(1, 30)))}`,
      init: post('{"name":"Ada"}')
    }),
    () => ({
      kind: "invalid UTF-8",
      path: "/tasks/greet",
      init: post(new Uint8Array([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, r.int(0x80, 0xff), 0x22, 0x7d]))
    }),
    () => ({
      kind: "bad session on start",
      path: `/tasks/greet?session=${r.pick(["", "s".repeat(r.int(256, 400))])}`,
      init: post('{"name":"Ada"}')
    }),
    () => ({
      kind: "unknown path",
      path: `/${r.text("abc/", r.int(1, 20))}`,
      init: { method: r.pick(["GET", "POST"]) }
    })
  ]
  return Array.from({ length: count }, (_, i) => (generators[i % generators.length] as () => Case)())
}

const send = (app: Hono, cases: ReadonlyArray<Case>) =>
  Effect.forEach(cases, (c) => Effect.map(request(app, c.path, c.init), (response) => ({ ...c, response })), {
    concurrency: 32
  })

describe("robustness", () => {
  it.effect(
    "answers 10 000 malformed requests with 4xx, never 5xx, and stores nothing",
    () =>
      withApp(
        ({ app, runtime }) =>
          Effect.gen(function* () {
            const before = yield* countTasks(runtime)
            const answers = yield* send(app, malformedRequests(10_000))
            const unexpected = answers.filter(({ response }) => response.status < 400 || response.status >= 500)
            assert.deepStrictEqual(
              unexpected
                .slice(0, 5)
                .map(({ kind, path, response }) => ({ kind, path: path.slice(0, 80), status: response.status })),
              []
            )
            for (const { response } of answers) {
              assert.strictEqual(response.headers.get("content-type"), "application/problem+json")
              yield* Effect.promise(() => response.arrayBuffer())
            }
            assert.strictEqual(yield* countTasks(runtime), before)
            assert.strictEqual(before, 0)
            const kinds = new Set(answers.map(({ kind }) => kind))
            assert.isAtLeast(kinds.size, 15)
          }),
        { bodyLimitBytes: LIMIT }
      ),
    60_000
  )

  it.effect("answers 401 to every request without credentials when auth is on, valid or not", () =>
    withApp(
      ({ app, runtime }) =>
        Effect.gen(function* () {
          const valid: Array<Case> = Array.from({ length: 200 }, (_, i) => ({
            kind: "valid start",
            path: "/tasks/greet",
            init: { method: "POST", body: JSON.stringify({ name: `n${i}` }), headers: json }
          }))
          const answers = yield* send(app, [...valid, ...malformedRequests(1_000)])
          for (const { response } of answers) {
            assert.strictEqual(response.status, 401)
            yield* Effect.promise(() => response.arrayBuffer())
          }
          assert.strictEqual(yield* countTasks(runtime), 0)
        }),
      { auth: { bearer: "token" }, bodyLimitBytes: LIMIT }
    )
  )
})
