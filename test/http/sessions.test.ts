import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option } from "effect"
import type { Hono } from "hono"
import { makeApp } from "../../src/http.ts"
import {
  MemoryStorageBackend,
  MemoryTaskStore,
  Runtime,
  StateManager,
  type StateManagerOptions,
  StorageBackend
} from "../../src/index.ts"
import { expectProblem, postJson, readJson, request } from "./fixtures.ts"

interface SessionEnv {
  readonly app: Hono
  readonly backend: StorageBackend["Service"]
}

/** An app with a StateManager over a fresh memory StorageBackend. */
const withSessions = <A, E>(f: (env: SessionEnv) => Effect.Effect<A, E>, options?: StateManagerOptions) =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make()
    const stateManager = yield* StateManager
    const app = yield* makeApp({ runtime, tasks: [], stateManager })
    return yield* f({ app, backend: yield* StorageBackend })
  }).pipe(
    Effect.scoped,
    Effect.provide(StateManager.layer(options)),
    Effect.provide(MemoryStorageBackend.layer),
    Effect.provide(MemoryTaskStore.layer)
  )

const putJson = (app: Hono, path: string, body: unknown) =>
  request(app, path, { method: "PUT", body: JSON.stringify(body), headers: { "content-type": "application/json" } })

const del = (app: Hono, path: string) => request(app, path, { method: "DELETE" })

describe("session routes", () => {
  it.effect("saves, reads, lists, checkpoints, restores and deletes a session", () =>
    withSessions(({ app }) =>
      Effect.gen(function* () {
        const saved = yield* putJson(app, "/sessions/s1", { step: 1 })
        assert.strictEqual(saved.status, 204)
        assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions/s1")), { id: "s1", state: { step: 1 } })
        assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions")), { items: [{ id: "s1" }] })

        const created = yield* postJson(app, "/sessions/s1/checkpoints", { name: "before" })
        assert.strictEqual(created.status, 201)
        const checkpointId = String((yield* readJson(created)).id)
        assert.match(checkpointId, /^checkpoint_s1_before_\d+$/)
        const listed = yield* readJson(yield* request(app, "/sessions/s1/checkpoints"))
        assert.deepStrictEqual(
          (listed.items as Array<Record<string, unknown>>).map(({ id, sessionId, name }) => ({ id, sessionId, name })),
          [{ id: checkpointId, sessionId: "s1", name: "before" }]
        )

        assert.strictEqual((yield* putJson(app, "/sessions/s1", { step: 2 })).status, 204)
        const restored = yield* request(app, `/checkpoints/${checkpointId}/restore`, { method: "POST" })
        assert.strictEqual(restored.status, 200)
        assert.deepStrictEqual(yield* readJson(restored), { state: { step: 1 } })
        assert.deepStrictEqual((yield* readJson(yield* request(app, "/sessions/s1"))).state, { step: 1 })

        assert.strictEqual((yield* del(app, "/sessions/s1")).status, 204)
        yield* expectProblem(yield* request(app, "/sessions/s1"), 404, "SessionNotFound")
        yield* expectProblem(yield* del(app, "/sessions/s1"), 404, "SessionNotFound")
        yield* expectProblem(yield* request(app, "/sessions/s1/checkpoints"), 404, "SessionNotFound")
        assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions")), { items: [] })
      })
    )
  )

  it.effect("lists no checkpoints for a session that has none", () =>
    withSessions(({ app }) =>
      Effect.gen(function* () {
        yield* putJson(app, "/sessions/s1", null)
        assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions/s1/checkpoints")), { items: [] })
        assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions/s1")), { id: "s1", state: null })
      })
    )
  )

  it.effect("answers 400 for an id or name that cannot be a key, 404 for what is missing, and writes nothing", () =>
    withSessions(({ app, backend }) =>
      Effect.gen(function* () {
        // (`%2e%2e` never gets here: URL parsing resolves it as a dot segment before routing.)
        for (const id of ["a%2Fb", "a%5Cb", "a%00b", "a%0Ab", "x".repeat(201)]) {
          const problem = yield* expectProblem(yield* putJson(app, `/sessions/${id}`, { x: 1 }), 400, "InvalidKey")
          assert.isAtMost(String(problem.detail).length, 400)
          yield* expectProblem(yield* request(app, `/sessions/${id}`), 400, "InvalidKey")
          yield* expectProblem(yield* del(app, `/sessions/${id}`), 400, "InvalidKey")
          yield* expectProblem(yield* request(app, `/checkpoints/${id}/restore`, { method: "POST" }), 400, "InvalidKey")
        }
        yield* expectProblem(yield* request(app, "/sessions/missing"), 404, "SessionNotFound")
        yield* expectProblem(yield* del(app, "/sessions/missing"), 404, "SessionNotFound")
        const noSession = yield* postJson(app, "/sessions/missing/checkpoints", { name: "x" })
        yield* expectProblem(noSession, 404, "SessionNotFound")
        for (const id of ["checkpoint_missing_x_1", "nope"]) {
          const restore = yield* request(app, `/checkpoints/${id}/restore`, { method: "POST" })
          yield* expectProblem(restore, 404, "CheckpointNotFound")
        }

        yield* putJson(app, "/sessions/s1", { step: 1 })
        for (const name of ["a/b", "..", "", "n".repeat(500)]) {
          const problem = yield* expectProblem(
            yield* postJson(app, "/sessions/s1/checkpoints", { name }),
            400,
            "InvalidKey"
          )
          assert.isAtMost(String(problem.detail).length, 400)
        }
        for (const body of [{}, { name: 1 }, "[", []]) {
          yield* expectProblem(yield* postJson(app, "/sessions/s1/checkpoints", body), 400, "InvalidRequest")
        }
        const badJson = yield* request(app, "/sessions/s1", {
          method: "PUT",
          body: "{",
          headers: { "content-type": "application/json" }
        })
        yield* expectProblem(badJson, 400, "InvalidRequest")
        const text = yield* request(app, "/sessions/s1", { method: "PUT", body: "{}", headers: {} })
        yield* expectProblem(text, 415, "UnsupportedMediaType")
        assert.deepStrictEqual(yield* backend.listKeys(""), ["sessions/s1"])
        assert.deepStrictEqual((yield* readJson(yield* request(app, "/sessions/s1"))).state, { step: 1 })
      })
    )
  )

  it.effect("answers 413 for a state over the StateManager's size limit, and keeps the state it had", () =>
    withSessions(
      ({ app }) =>
        Effect.gen(function* () {
          assert.strictEqual((yield* putJson(app, "/sessions/s1", { n: 1 })).status, 204)
          const problem = yield* expectProblem(
            yield* putJson(app, "/sessions/s1", { text: "x".repeat(64) }),
            413,
            "SnapshotTooLarge"
          )
          assert.include(String(problem.detail), "s1")
          assert.deepStrictEqual((yield* readJson(yield* request(app, "/sessions/s1"))).state, { n: 1 })
        }),
      { sizeLimitBytes: 32 }
    )
  )

  it.effect("answers 500 with a logged errorId, and no stored key or reason, for a corrupted record", () =>
    Effect.gen(function* () {
      const logs: Array<string> = []
      const capture = Logger.layer([Logger.map(Logger.formatJson, (line) => logs.push(line))])
      yield* withSessions(({ app, backend }) =>
        Effect.gen(function* () {
          yield* putJson(app, "/sessions/s1", { step: 1 })
          // Changed after it was written: its checksum no longer matches.
          const stored = Option.getOrThrow(yield* backend.load("sessions/s1"))
          yield* backend.save("sessions/s1", new TextDecoder().decode(stored).replace('"step":1', '"step":2'))

          const problem = yield* expectProblem(yield* request(app, "/sessions/s1"), 500, "SnapshotCorrupted")
          assert.isString(problem.errorId)
          assert.notInclude(JSON.stringify(problem), "sessions/s1")
          assert.notInclude(JSON.stringify(problem), "checksum")
          assert.isTrue(logs.some((line) => line.includes(String(problem.errorId)) && line.includes("checksum")))
          const checkpoint = yield* postJson(app, "/sessions/s1/checkpoints", { name: "x" })
          yield* expectProblem(checkpoint, 500, "SnapshotCorrupted")
          // The session exists: listing its checkpoints is how it gets repaired.
          assert.deepStrictEqual(yield* readJson(yield* request(app, "/sessions/s1/checkpoints")), { items: [] })
        })
      ).pipe(Effect.provide(capture))
    })
  )
})
