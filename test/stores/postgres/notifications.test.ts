/**
 * Wake-ups pushed by the database: which statements notify (and with what due time), `awaitWork` returning on them
 * instead of waiting out its maximum, a worker with a one-hour poll interval picking up a task at once, and the
 * listener's life (started by the first wait, closed with the store). PGlite always; a server when DATABASE_URL is
 * set.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { sql } from "drizzle-orm"
import { Clock, Context, Deferred, Effect, Fiber, Layer, Option, Predicate, Schedule, Schema, type Scope } from "effect"
import postgres from "postgres"
import { Runtime, task } from "../../../src/index.ts"
import { PostgresStore } from "../../../src/postgres.ts"
import type { StoreError } from "../../../src/stores/errors.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { channel } from "../../../src/stores/postgres/Notifications.ts"
import type { TaskRecord } from "../../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { layerFrom, makeTemplate } from "./pgliteTemplate.ts"
import * as TestDatabase from "./TestDatabase.ts"

const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n * 2))

/** What a raw listener of the channel heard, in order. */
interface Heard {
  readonly payloads: Array<string>
}

/** Subscribes to the channel outside the store, for as long as the scope lasts. */
type RawListen = Effect.Effect<Heard, never, Db | Scope.Scope>

const getTask = (store: TaskStore["Service"], id: string) => Effect.map(store.get(id), Option.getOrThrow)

const claimed = (store: TaskStore["Service"], id: string, owner = "w") =>
  Effect.map(store.claim(id, { owner, expiresAt: Number.MAX_SAFE_INTEGER }), Option.getOrThrow)

/** Polls `read` until `done` holds: for events another process or connection makes happen. */
const eventually = <A, E, R>(read: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.repeat(read, { until: done, schedule: Schedule.spaced("10 millis") }).pipe(Effect.timeout("20 seconds"))

/**
 * A fiber waiting for work, returned once it waits: its first wait (which returns at once, the listener being new
 * to it) is spent, so only what happens next can end the second.
 */
const waiting = (store: TaskStore["Service"], maxWaitMillis = 3_600_000) =>
  Effect.gen(function* () {
    const ready = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      Effect.gen(function* () {
        yield* store.awaitWork(0)
        yield* Deferred.succeed(ready, undefined)
        yield* store.awaitWork(maxWaitMillis)
        return yield* Clock.currentTimeMillis
      }).pipe(Effect.timeout("20 seconds"))
    )
    yield* Deferred.await(ready)
    return fiber
  })

/**
 * The payloads `op` sent: all heard before a marker sent after it commits (one channel keeps commit order).
 */
const sentBy = (heard: Heard, db: Db["Service"]) => {
  let marker = 0
  return <A, E, R>(op: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      yield* op
      const mark = `marker ${++marker}`
      yield* execute(db, "marker", sql`select pg_notify(${channel}, ${mark})`)
      yield* eventually(
        Effect.sync(() => heard.payloads.includes(mark)),
        (found) => found
      )
      const before = heard.payloads.splice(0, heard.payloads.indexOf(mark) + 1)
      return before.slice(0, -1)
    })
}

const notificationSuite = (name: string, layer: Layer.Layer<TaskStore | Db, StoreError>, rawListen: RawListen) =>
  describe(`Notifications: ${name}`, () => {
    it.live("notifies from the statements that may make a task runnable, and from no other", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const db = yield* Db
        const sent = sentBy(yield* rawListen, db)

        assert.deepStrictEqual(yield* sent(store.create({ id: "a", name: "job", input: 1 })), [""])
        assert.deepStrictEqual(yield* sent(store.create({ id: "later", name: "job", input: 1, runAt: 5000 })), ["5000"])
        assert.deepStrictEqual(yield* sent(store.create({ id: "k1", name: "job", input: 1, idempotencyKey: "key" })), [
          ""
        ])
        assert.deepStrictEqual(
          yield* sent(store.create({ id: "k2", name: "job", input: 1, idempotencyKey: "key" })),
          [],
          "a create that finds its key used creates nothing"
        )

        const first = yield* claimed(store, "a")
        assert.deepStrictEqual(yield* sent(claimed(store, "k1")), [], "claim")
        assert.deepStrictEqual(yield* sent(store.heartbeat("a", first.fencingToken, 10)), [], "heartbeat")
        assert.deepStrictEqual(
          yield* sent(store.finish("a", first.fencingToken, { _tag: "Requeued", attempt: 2 })),
          [""],
          "requeued"
        )
        const second = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(store.finish("a", second.fencingToken, { _tag: "Requeued", attempt: 3, runAt: 6000 })),
          ["6000"],
          "requeued for later"
        )
        const third = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(
            store.finish("a", third.fencingToken, {
              _tag: "Suspended",
              reason: { _tag: "Paused", until: 7000 },
              runAt: 7000
            })
          ),
          ["7000"],
          "suspended until a time"
        )
        const fourth = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(
            store.finish("a", fourth.fencingToken, {
              _tag: "Suspended",
              reason: { _tag: "WaitingForSignal", signal: "go" }
            })
          ),
          [],
          "suspended until a wake"
        )
        const woken = yield* sent(store.wake("a"))
        assert.strictEqual(woken.length, 1, "woken")
        assert.strictEqual(String((yield* getTask(store, "a")).runAt), woken[0], "with the time it is due")
        assert.deepStrictEqual(yield* sent(store.wake("k1")), [], "waking a task that is not suspended does nothing")
        assert.deepStrictEqual(
          yield* sent(store.finish("k1", (yield* getTask(store, "k1")).fencingToken, { _tag: "Completed", output: 1 })),
          [],
          "completed"
        )

        yield* sent(
          Effect.all([
            store.create({ id: "b", name: "job", input: 1 }),
            store.create({ id: "c", name: "job", input: 1 })
          ])
        )
        yield* claimed(store, "b", "crashed")
        yield* claimed(store, "c", "crashed")
        assert.deepStrictEqual(
          yield* sent(store.recoverOwned("crashed")),
          [""],
          "handed back: one notification for the statement's two rows"
        )
        assert.deepStrictEqual(yield* sent(store.recoverOwned("crashed")), [], "nothing left to hand back")
        assert.deepStrictEqual(yield* sent(store.suspendIdle("b", { _tag: "Paused" })), [], "suspendIdle")
        assert.deepStrictEqual(yield* sent(store.cancelIdle("c")), [], "cancelIdle")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.live("notifies from batched writes once per due time, and not from claimed creates nor endings", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const sent = sentBy(yield* rawListen, yield* Db)
        const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }
        const all = <A, E>(effects: ReadonlyArray<Effect.Effect<A, E>>) =>
          Effect.all(effects, { concurrency: "unbounded" })
        // the first of each group goes alone, the others as one batch: payloads are compared as sets
        const heard = (op: Effect.Effect<unknown, unknown>) =>
          Effect.map(sent(op), (payloads) => [...new Set(payloads)])
        const ids = (prefix: string) => Array.from({ length: 12 }, (_, i) => `${prefix}${i}`)
        assert.deepStrictEqual(
          yield* heard(all(ids("claimed").map((id) => store.create({ id, name: "job", input: 1, lease })))),
          [],
          "created claimed"
        )
        assert.sameMembers(
          yield* heard(
            all(
              ids("p").map((id, i) =>
                store.create({ id, name: "job", input: 1, runAt: i % 2 === 0 ? 8000 : undefined })
              )
            )
          ),
          ["", "8000"],
          "created pending"
        )
        const running = yield* all(ids("r").map((id) => store.create({ id, name: "job", input: 1, lease })))
        assert.deepStrictEqual(
          yield* heard(all(running.map((task) => store.heartbeat(task.id, task.fencingToken, 10)))),
          [],
          "heartbeats"
        )
        assert.sameMembers(
          yield* heard(
            all(
              running.map((task, i) =>
                store.finish(
                  task.id,
                  task.fencingToken,
                  i % 4 === 0
                    ? { _tag: "Completed", output: 1 }
                    : i % 4 === 1
                      ? { _tag: "Suspended", reason: { _tag: "WaitingForSignal", signal: "go" } }
                      : i % 4 === 2
                        ? { _tag: "Suspended", reason: { _tag: "Paused", until: 9000 }, runAt: 9000 }
                        : { _tag: "Requeued", attempt: 2 }
                )
              )
            )
          ),
          ["9000", ""],
          "requeued and suspended until a time"
        )
        const done = yield* all(ids("d").map((id) => store.create({ id, name: "job", input: 1, lease })))
        assert.deepStrictEqual(
          yield* heard(
            all(
              done.map((task) =>
                store.finish(task.id, task.fencingToken, { _tag: "Failed", error: { tag: "E", message: "" } })
              )
            )
          ),
          [],
          "failed"
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

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

    it.live("returns from awaitWork after its maximum wait when nothing happens", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const fiber = yield* waiting(store, 50)
        yield* Fiber.join(fiber)
      }).pipe(Effect.provide(layer))
    )
  })

const rawListenPglite: RawListen = Effect.gen(function* () {
  const db = yield* Db
  const client = (db as unknown as { readonly $client: unknown }).$client
  if (!Predicate.hasProperty(client, "listen") || !Predicate.isFunction(client.listen)) {
    return yield* Effect.die(new Error("the Db is not over a PGlite client"))
  }
  const listen = client.listen as (ch: string, f: (payload: string) => void) => Promise<() => Promise<void>>
  const heard: Heard = { payloads: [] }
  yield* Effect.acquireRelease(
    Effect.promise(() => listen.call(client, channel, (payload) => heard.payloads.push(payload))),
    (unlisten) => Effect.promise(() => unlisten())
  )
  return heard
})

const template = await Effect.runPromise(makeTemplate)
notificationSuite("pglite", layerFrom(template), rawListenPglite)

describe("PgTaskStore.awaitWork: pglite", () => {
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

// Registers nothing without a server: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test
const adminUrl = process.env.DATABASE_URL

if (adminUrl !== undefined && adminUrl !== "") {
  const url = await Effect.runPromise(TestDatabase.create(adminUrl))
  afterAll(() => Effect.runPromise(TestDatabase.drop(adminUrl, url)))

  const rawListenServer: RawListen = Effect.gen(function* () {
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(url, { max: 1, onnotice: () => {} })),
      (client) => Effect.promise(() => client.end())
    )
    const heard: Heard = { payloads: [] }
    yield* Effect.promise(() => client.listen(channel, (payload) => heard.payloads.push(payload)))
    return heard
  })

  notificationSuite("postgres", TestDatabase.layer(url), rawListenServer)

  describe("PgTaskStore.awaitWork: postgres", () => {
    /** Every store of a fresh database, with connections of its own, open until the scope closes. */
    const open = (database: string) => Layer.build(PostgresStore.layer({ url: database }))

    /** Backends of `database` listening on the channel, as the server sees them. */
    const listeners = (database: string) =>
      Effect.acquireUseRelease(
        Effect.sync(() => postgres(database, { max: 1, onnotice: () => {} })),
        (client) =>
          Effect.promise(
            () => client`select count(*)::int as n from pg_stat_activity
              where datname = current_database() and query ilike ${`listen%${channel}%`}`
          ).pipe(Effect.map((rows) => rows[0]?.n as number)),
        (client) => Effect.promise(() => client.end())
      )

    it.live("wakes a worker polling every hour for a task created through another store, at once", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const workerStores = yield* open(database)
        yield* Runtime.make({ id: "worker", tasks: [double], worker: { pollInterval: "1 hour" } }).pipe(
          Effect.provideContext(workerStores)
        )
        const other = Context.get(yield* open(database), TaskStore)
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
            const store = Context.get(yield* open(database), TaskStore)
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
        const store = Context.get(yield* open(database), TaskStore)
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
}
