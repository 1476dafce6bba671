/**
 * A store whose layer's scope has ended says so: a runtime made inside `Effect.provide` of a store layer outlives the
 * store, and its next call fails with a `StoreError` whose cause, `StoreClosed`, tells what happened and what to do.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Predicate, Schema } from "effect"
import { MemoryStore, MemoryTaskStore, Runtime, type TaskStore, task } from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import type { StoreError } from "../../src/stores/errors.ts"
import * as TestDatabase from "./postgres/TestDatabase.ts"

const job = task({ name: "job", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))

/** Makes a runtime as the mistake does (the layer provided around `make` alone), then runs a task on it. */
const runAfterClose = (stores: Layer.Layer<TaskStore, StoreError>) =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make().pipe(Effect.provide(stores))
    return yield* Effect.flip(runtime.run(job, 1))
  }).pipe(Effect.scoped)

const assertClosed = (error: unknown) => {
  assert.isTrue(Predicate.isTagged(error, "StoreError"), String(error))
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  assert.isTrue(Predicate.isTagged(cause, "StoreClosed"), String(cause))
  // what a user sees: the StoreError's own message says why, and what to do
  assert.match(
    String(Predicate.hasProperty(error, "message") ? error.message : ""),
    /store operation "create" failed: the store was closed \(its layer's scope ended.*\): provide the layer around the whole program that uses the runtime/
  )
}

describe("a closed store", () => {
  it.effect("in memory, fails the next call with StoreClosed, as on PostgreSQL", () =>
    Effect.gen(function* () {
      assertClosed(yield* runAfterClose(MemoryStore.layer))
      assertClosed(yield* runAfterClose(MemoryTaskStore.layer))
    })
  )

  it.effect(
    "on PGlite, fails the next call with StoreClosed",
    () =>
      Effect.gen(function* () {
        assertClosed(yield* runAfterClose(PgliteStore.layer()))
      }),
    30_000
  )

  describe.skipIf(TestDatabase.noServer)("on a server: needs DATABASE_URL", () => {
    it.effect("on a server, fails the next call with StoreClosed", () =>
      Effect.gen(function* () {
        const url = yield* TestDatabase.scoped(TestDatabase.adminUrl)
        assertClosed(yield* runAfterClose(PostgresStore.layer({ url })))
      })
    )
  })
})
