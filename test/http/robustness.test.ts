import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Hono } from "hono"
import { countTasks, readJson, request, withApp } from "./fixtures.ts"

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
  const badJson = () => {
    let body = r.text('{}[]":,abc123 \\\n\ttrue', r.int(0, 200))
    while (isJson(body)) body = `${body}{`
    return body
  }
  /** An id that no task has, or that none can have. */
  const badId = () =>
    r.pick([
      r.text("abcdef0123456789-", r.int(1, 40)),
      r.text("%0%f%ZZ%00%E0%A4%A", r.int(1, 30)),
      "x".repeat(r.int(256, 3000)),
      encodeURIComponent(r.text("\u00e9\u4e2d\u{1F600}\u0000\n", r.int(1, 10))),
      "...",
      "%2e%2e%2e"
    ])
  const unknownId = () => r.text("abcdef0123456789-", r.int(1, 40))
  /** A session or checkpoint id that cannot be a storage key. */
  const badKey = () =>
    r.pick(["a%2Fb", "a%5Cb", "%00", "a%0Ab", "k".repeat(r.int(201, 400)), encodeURIComponent("\u0000..")])
  const generators: ReadonlyArray<() => Case> = [
    () => ({ kind: "bad JSON", path: r.pick(["/tasks/greet", "/tasks/order"]), init: post(badJson()) }),
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
      const path = r.pick(["/tasks/x/signals/go", "/tasks/x/fork", "/sessions/x/checkpoints", "/sessions/x"])
      const body = JSON.stringify({ version: 1, name: r.text("abc", r.int(LIMIT + 1, LIMIT * 3)) })
      const init = path === "/sessions/x" ? { ...post(body), method: "PUT" } : post(body)
      return { kind: "huge body (signal, fork, checkpoint, session)", path, init }
    },
    () => {
      const depth = r.int(65, 5000)
      const body =
        r.next() < 0.5 ? "[".repeat(depth) + "]".repeat(depth) : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`
      return { kind: "deep nesting", path: "/tasks/greet", init: post(body) }
    },
    () => {
      const id = badId()
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
        "/openapi.json",
        "/tasks/x/pause",
        "/tasks/x/resume",
        "/tasks/x/signals/go",
        "/tasks/x/state",
        "/tasks/x/snapshots",
        "/tasks/x/snapshots/1",
        "/tasks/x/fork",
        "/sessions",
        "/sessions/x/checkpoints",
        "/checkpoints/x/restore"
      ])
      return { kind: "wrong method", path, init: { method } }
    },
    () => {
      const path = r.pick([
        "/events",
        "/tasks",
        "/health",
        "/openapi.json",
        "/tasks/x/events",
        "/tasks/x/state",
        "/tasks/x/snapshots",
        "/tasks/x/snapshots/1",
        "/sessions",
        "/sessions/x"
      ])
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
    }),
    () => {
      const id = badId()
      const [method, rest] = r.pick([
        ["POST", "pause"],
        ["POST", "resume"],
        ["GET", "state"],
        ["GET", "snapshots"],
        ["GET", `snapshots/${r.int(1, 5)}`]
      ] as const)
      return { kind: `bad or unknown id (${rest.split("/")[0]})`, path: `/tasks/${id}/${rest}`, init: { method } }
    },
    () => {
      const variant = r.int(0, 3)
      const task = `/tasks/${unknownId()}`
      if (variant === 0) return { kind: "bad or unknown id (fork)", path: `/tasks/${badId()}/fork`, init: post("{}") }
      if (variant === 1) return { kind: "fork: bad JSON", path: `${task}/fork`, init: post(badJson()) }
      if (variant === 2) {
        const body = r.pick<unknown>([
          {},
          { version: r.pick<unknown>([0, -r.int(1, 1e6), r.next(), "1", null, true, [], {}]) },
          wrongValue()
        ])
        return { kind: "fork: bad body", path: `${task}/fork`, init: post(JSON.stringify(body)) }
      }
      return { kind: "fork: unknown task", path: `${task}/fork`, init: post(JSON.stringify({ version: r.int(1, 9) })) }
    },
    () => {
      const query = r.pick([
        `limit=${r.pick(["0", "-5", "1001", "abc", "2.5", "", "1e9", "NaN", "Infinity"])}`,
        `before=${r.pick(["0", "-1", "abc", "1.5", "", "NaN", "9".repeat(r.int(17, 30))])}`
      ])
      return { kind: "bad snapshot query", path: `/tasks/${unknownId()}/snapshots?${query}`, init: { method: "GET" } }
    },
    () => {
      const version = r.pick(["0", "-1", "1.5", "abc", "1e3", "9".repeat(r.int(17, 30)), "%00", "0x1"])
      return {
        kind: "bad snapshot version",
        path: `/tasks/${unknownId()}/snapshots/${version}`,
        init: { method: "GET" }
      }
    },
    () => {
      const variant = r.int(0, 3)
      const name = r.pick(["go", "approval"])
      const task = `/tasks/${unknownId()}/signals`
      if (variant === 0) {
        const bad = r.pick([encodeURIComponent("a\u0000b"), "n".repeat(r.int(256, 400)), "%0A"])
        return { kind: "signal: bad name", path: `${task}/${bad}`, init: post("{}") }
      }
      if (variant === 1) return { kind: "signal: bad JSON", path: `${task}/${name}`, init: post(badJson()) }
      if (variant === 2) {
        const type = r.pick(["text/plain", "application/xml", ""])
        const headers: Record<string, string> = type === "" ? {} : { "content-type": type }
        return { kind: "signal: bad content type", path: `${task}/${name}`, init: post("{}", headers) }
      }
      return { kind: "signal: unknown task", path: `${task}/${name}`, init: post(JSON.stringify(wrongValue())) }
    },
    () => {
      const variant = r.int(0, 4)
      if (variant === 0) {
        return { kind: "session: bad id", path: `/sessions/${badKey()}`, init: { ...post('{"a":1}'), method: "PUT" } }
      }
      if (variant === 1) {
        return {
          kind: "session: bad body",
          path: `/sessions/${unknownId()}`,
          init: { ...post(badJson()), method: "PUT" }
        }
      }
      if (variant === 2) {
        const size = r.int(LIMIT + 1, LIMIT * 3)
        const body = JSON.stringify({ note: r.text("abc", size) })
        return { kind: "session: huge body", path: `/sessions/${unknownId()}`, init: { ...post(body), method: "PUT" } }
      }
      if (variant === 3) {
        const headers: Record<string, string> = { "content-type": r.pick(["text/plain", "application/xml"]) }
        const path = `/sessions/${unknownId()}`
        return { kind: "session: bad content type", path, init: { ...post('{"a":1}', headers), method: "PUT" } }
      }
      const id = r.pick([badKey(), unknownId()])
      const method = r.pick(["GET", "DELETE"])
      return { kind: "session: bad or unknown id", path: `/sessions/${id}`, init: { method } }
    },
    () => {
      const variant = r.int(0, 2)
      const path = `/sessions/${r.pick([badKey(), unknownId()])}/checkpoints`
      if (variant === 0) return { kind: "checkpoints: bad or unknown session", path, init: { method: "GET" } }
      const body = r.pick<unknown>([
        { name: "x" },
        { name: r.pick(["a/b", "..", "", "n".repeat(300)]) },
        {},
        wrongValue()
      ])
      return { kind: "checkpoint: bad request", path, init: post(variant === 1 ? JSON.stringify(body) : badJson()) }
    },
    () => {
      const id = r.pick([badKey(), `checkpoint_${unknownId()}_x_${r.int(0, 1e6)}`, unknownId()])
      return {
        kind: "restore: bad or unknown checkpoint",
        path: `/checkpoints/${id}/restore`,
        init: { method: "POST" }
      }
    }
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
            assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions")), { items: [] })
            const kinds = new Set(answers.map(({ kind }) => kind))
            assert.isAtLeast(kinds.size, 40)
          }),
        { bodyLimitBytes: LIMIT, everyStore: true }
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
          const sessions = yield* request(app, "/sessions", { headers: { authorization: "Bearer token-token-token" } })
          assert.deepStrictEqual(yield* readJson(sessions), { items: [] })
        }),
      { auth: { bearer: "token-token-token" }, bodyLimitBytes: LIMIT, everyStore: true }
    )
  )
})
