/**
 * `awaitWork` on PostgreSQL: returning on a wake-up instead of waiting out its maximum, and only then (a child's end
 * notifies from the trigger that counts it, on both drivers); a worker with a one-hour poll interval picking up a task
 * at once; and the listener's life (started by the first wait, on one connection, listening again after it is cut,
 * closed with the store). PGlite always; a server when DATABASE_URL is set.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Fiber, type Layer, Option } from "effect"
import postgres from "postgres"
import { Runtime } from "../../../src/index.ts"
import type { StoreError } from "../../../src/stores/errors.ts"
import { channel } from "../../../src/stores/postgres/Notifications.ts"
import type { TaskRecord } from "../../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { claimed, double, eventually, getTask, listeners, openServer, waiting } from "./notifying.ts"
import { layerFrom, makeTemplate } from "./pgliteTemplate.ts"
import * as TestDatabase from "./TestDatabase.ts"

const awaitWorkSuite = (name: string, layer: Layer.Layer<TaskStore, StoreError>) =>
  describe(`PgTaskStore.awaitWork: ${name}`, () => {
    it.live("returns from awaitWork when a task is created, requeued, suspended until now, woken or handed back", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const wakes = (op: Effect.Effect<unknown, unknown>) =>
          Effect.gen(function* () {
            const fiber = yield* waiting(store)
            yield* op
            // a timeout (20 s) fails the test: it would have waited its hour
            yield* Fiber.join(fiber)
          })
        yield* wakes(store.create({ id: "t", name: "job", input: 1 }))
        const first = yield* claimed(store, "t")
        yield* wakes(store.finish("t", first.fencingToken, { _tag: "Requeued", attempt: 2 }))
        const second = yield* claimed(store, "t")
        const now = yield* Clock.currentTimeMillis
        yield* wakes(
          store.finish("t", second.fencingToken, {
            _tag: "Suspended",
            reason: { _tag: "Paused", until: now },
            runAt: now
          })
        )
        const third = yield* claimed(store, "t")
        yield* store.finish("t", third.fencingToken, {
          _tag: "Suspended",
          reason: { _tag: "WaitingForSignal", signal: "go" }
        })
        yield* wakes(store.wake("t"))
        yield* claimed(store, "t", "crashed")
        yield* wakes(Effect.asVoid(store.recoverOwned("crashed")))
      }).pipe(Effect.provide(layer))
    )

    it.live("returns from awaitWork when a child's end makes its waiting parent runnable, or releases a sibling", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }
        const child = (id: string, parentId: string, queued: boolean) =>
          store.create({
            id,
            name: "child",
            input: null,
            parentId,
            bounded: true,
            ...(queued ? { queued } : { lease })
          })
        const wakes = (op: Effect.Effect<unknown, unknown>) =>
          Effect.gen(function* () {
            const fiber = yield* waiting(store)
            yield* op
            // a timeout (20 s) fails the test: only the trigger that counted the child or released one notifies
            yield* Fiber.join(fiber)
          })
        const parent = yield* store.create({ id: "p", name: "parent", input: null, lease })
        const first = yield* child("p/a", "p", false)
        yield* store.finish("p", parent.fencingToken, { _tag: "AwaitingChildren", children: ["p/a"], mode: "all" })
        yield* wakes(store.finish("p/a", first.fencingToken, { _tag: "Completed", output: null }))
        assert.strictEqual((yield* getTask(store, "p")).status, "pending")
        // a parent that runs, and the queued sibling its child's end starts
        const other = yield* store.create({ id: "q", name: "parent", input: null, lease })
        const running = yield* child("q/a", "q", false)
        yield* child("q/b", "q", true)
        yield* wakes(store.finish("q/a", running.fencingToken, { _tag: "Failed", error: { tag: "Boom", message: "" } }))
        assert.deepStrictEqual([(yield* getTask(store, "q/b")).status, other.status], ["pending", "running"])
      }).pipe(Effect.provide(layer))
    )

    it.live("returns from awaitWork when a task created for later becomes due, not before", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const fiber = yield* waiting(store)
        const runAt = (yield* Clock.currentTimeMillis) + 300
        yield* store.create({ id: "soon", name: "job", input: 1, runAt })
        const returnedAt = yield* Fiber.join(fiber)
        assert.isAtLeast(returnedAt, runAt)
        assert.isTrue(Option.isSome(yield* store.claim("soon", { owner: "w", expiresAt: runAt + 60_000 })))
      }).pipe(Effect.provide(layer))
    )

    it.live("returns from awaitWork once its maximum wait has passed when nothing happens, and not before", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        // one fiber for both waits: the first returns at once, what was heard before being new to this fiber
        const waited = yield* Effect.gen(function* () {
          yield* store.awaitWork(0)
          const start = yield* Clock.currentTimeMillis
          yield* store.awaitWork(200)
          return (yield* Clock.currentTimeMillis) - start
        }).pipe(Effect.timeout("20 seconds"))
        assert.isAtLeast(waited, 200, "nothing woke it before its maximum")
      }).pipe(Effect.provide(layer))
    )
  })

const template = await Effect.runPromise(makeTemplate)
awaitWorkSuite("pglite", layerFrom(template))

describe("PgTaskStore.awaitWork: a worker on pglite", () => {
  it.live("wakes a worker polling every hour for a task created outside it, at once", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* Runtime.make({ id: "worker", tasks: [double], worker: { pollInterval: "1 hour" } })
      // The first task may be found by the worker's first looks; once it is done, only a wake-up can find the next.
      yield* store.create({ id: "warm-up", name: "double", input: 1 })
      yield* eventually(getTask(store, "warm-up"), (task) => task.status === "completed")
      yield* store.create({ id: "fresh", name: "double", input: 21 })
      const done = yield* eventually(getTask(store, "fresh"), (task) => task.status === "completed")
      assert.strictEqual(done.output, 42)
      assert.isBelow((done.startedAt ?? Number.POSITIVE_INFINITY) - done.createdAt, 3_600, "within 1/1000 of a poll")
    }).pipe(Effect.scoped, Effect.provide(layerFrom(template)))
  )
})

describe.skipIf(TestDatabase.noServer)("PgTaskStore.awaitWork on a server: needs DATABASE_URL", () => {
  const adminUrl = TestDatabase.adminUrl
  awaitWorkSuite("postgres", TestDatabase.shared().layer)

  it.live("wakes a worker polling every hour for a task created through another store, at once", () =>
    Effect.gen(function* () {
      const database = yield* TestDatabase.scoped(adminUrl)
      const workerStores = yield* openServer(database)
      yield* Runtime.make({ id: "worker", tasks: [double], worker: { pollInterval: "1 hour" } }).pipe(
        Effect.provideContext(workerStores)
      )
      const other = Context.get(yield* openServer(database), TaskStore)
      // The first task may be found by the worker's first looks; once it is done, only a wake-up can find the next.
      yield* other.create({ id: "warm-up", name: "double", input: 1 })
      yield* eventually(getTask(other, "warm-up"), (task) => task.status === "completed")
      yield* other.create({ id: "fresh", name: "double", input: 21 })
      const done: TaskRecord = yield* eventually(getTask(other, "fresh"), (task) => task.status === "completed")
      assert.strictEqual(done.output, 42)
      assert.isBelow((done.startedAt ?? Number.POSITIVE_INFINITY) - done.createdAt, 3_600, "within 1/1000 of a poll")
    }).pipe(Effect.scoped)
  )

  it.live("starts listening on the first wait, on one connection, and stops when the store closes", () =>
    Effect.gen(function* () {
      const database = yield* TestDatabase.scoped(adminUrl)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const store = Context.get(yield* openServer(database), TaskStore)
          yield* store.create({ id: "t", name: "job", input: 1 })
          assert.strictEqual(yield* listeners(database), 0, "no listener before a wait")
          yield* store.awaitWork(0)
          yield* store.awaitWork(0)
          assert.strictEqual(yield* listeners(database), 1)
        })
      )
      yield* eventually(listeners(database), (n) => n === 0)
    }).pipe(Effect.scoped)
  )

  it.live("listens again after its connection is terminated, and wakes its waiter for that", () =>
    Effect.gen(function* () {
      const database = yield* TestDatabase.scoped(adminUrl)
      const store = Context.get(yield* openServer(database), TaskStore)
      const fiber = yield* waiting(store)
      const admin = yield* Effect.acquireRelease(
        Effect.sync(() => postgres(database, { max: 1, onnotice: () => {} })),
        (client) => Effect.promise(() => client.end())
      )
      yield* Effect.promise(
        () => admin`select pg_terminate_backend(pid, 5000) from pg_stat_activity
          where datname = current_database() and query ilike ${`listen%${channel}%`}`
      )
      // notifications sent while it was away are lost: the waiter looks again once it listens again
      yield* Fiber.join(fiber)
      yield* eventually(listeners(database), (n) => n === 1)
      const next = yield* waiting(store)
      yield* store.create({ id: "after", name: "job", input: 1 })
      yield* Fiber.join(next)
    }).pipe(Effect.scoped)
  )
})
