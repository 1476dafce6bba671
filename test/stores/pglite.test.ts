import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { sql } from "drizzle-orm"
import { Effect, Layer, Option, Schema } from "effect"
import { Progress, ProgressPlugin, Runtime, task } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"
import { ProgressStore } from "../../src/stores/ProgressStore.ts"
import { Db, execute } from "../../src/stores/postgres/Db.ts"
import { Driver } from "../../src/stores/postgres/Driver.ts"
import { attempt } from "../../src/stores/postgres/internal/attempt.ts"
import { isMigrated } from "../../src/stores/postgres/internal/migrations.ts"
import * as PgliteDb from "../../src/stores/postgres/PgliteDb.ts"
import * as PgStores from "../../src/stores/postgres/PgStores.ts"
import { StateStore } from "../../src/stores/StateStore.ts"
import { StepStore } from "../../src/stores/StepStore.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import {
  budgetStoreSuite,
  checkpointSuite,
  progressStoreSuite,
  rateLimitStoreSuite,
  runTreeStoreSuite,
  snapshotStoreSuite,
  stateStoreSuite,
  stepStoreSuite,
  storageBackendSuite,
  taskStoreSuite
} from "../../src/testing.ts"
import { pgChildrenSuite } from "./postgres/pgChildrenSuite.ts"
import { layerFrom, makeTemplate, tempDir } from "./postgres/pgliteTemplate.ts"
import { pgStoresSuite } from "./postgres/pgStoresSuite.ts"
import { pgTaskStoreSuite } from "./postgres/pgTaskStoreSuite.ts"
import { requestsAcross } from "./postgres/requestsAcross.ts"

const template = await Effect.runPromise(makeTemplate)

taskStoreSuite("pglite", layerFrom(template))
pgTaskStoreSuite("pglite", layerFrom(template))
pgChildrenSuite("pglite", layerFrom(template))

/** Every store, in an in-memory database loaded from the template for each test. */
const stores = Layer.provide(PgStores.layer, PgliteDb.layer({ loadDataDir: template }))
stateStoreSuite("pglite", stores)
stepStoreSuite("pglite", stores)
checkpointSuite("pglite", stores)
snapshotStoreSuite("pglite", stores)
progressStoreSuite("pglite", stores)
runTreeStoreSuite("pglite", stores)
budgetStoreSuite("pglite", stores)
rateLimitStoreSuite("pglite", stores)
storageBackendSuite("pglite", stores)
pgStoresSuite("pglite", stores)

describe("PgStateStore and PgStepStore: pglite", () => {
  // PostgreSQL's jsonb refuses the character U+0000, so a value holding it makes the driver fail.
  const unstorable = "nul \u0000 inside"

  it.effect("fails a put the database refuses with StoreError, and writes none of its keys", () =>
    Effect.gen(function* () {
      const store = yield* StateStore
      yield* store.put("task:t1", new Map([["a", { value: 1 }]]))
      const entries = new Map([
        ["a", { value: 2 }],
        ["b", { value: 2 }],
        ["z", { value: unstorable }]
      ])
      const error = yield* Effect.flip(store.put("task:t1", entries))
      assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "put"])
      const all = yield* store.getAll("task:t1")
      assert.deepStrictEqual([...all.keys()], ["a"])
      assert.deepStrictEqual([all.get("a")?.value, all.get("a")?.version], [1, 1])
      const cas = yield* Effect.flip(store.compareAndSet("task:t1", "a", 1, { value: unstorable }))
      assert.deepStrictEqual([cas._tag, cas.operation], ["StoreError", "compareAndSet"])
    }).pipe(Effect.provide(stores))
  )

  it.effect("fails step writes the database refuses with StoreError naming the operation", () =>
    Effect.gen(function* () {
      const store = yield* StepStore
      const put = yield* Effect.flip(store.putStep("t1", "s", unstorable))
      const send = yield* Effect.flip(store.sendSignal("t1", "n", unstorable))
      assert.deepStrictEqual([put.operation, send.operation], ["putStep", "sendSignal"])
      assert.isTrue(Option.isNone(yield* store.getStep("t1", "s")))
      assert.strictEqual(yield* store.pendingSignals("t1", "n"), 0)
    }).pipe(Effect.provide(stores))
  )
})

/**
 * A PGlite client as a version without the private protocol API would be (`execProtocol`, `_runExclusiveTransaction`
 * absent); every other method is the client's own, bound to it, so that PGlite's internals still find theirs.
 */
const withoutPrivateApi = (client: PGlite): PGlite =>
  new Proxy(client, {
    get: (target, key) => {
      if (key === "execProtocol" || key === "_runExclusiveTransaction") return undefined
      const value: unknown = Reflect.get(target, key, target)
      return typeof value === "function" ? value.bind(target) : value
    }
  })

/** Every store over such a client, loaded from the template for each test. */
const publicApiOnly = Layer.unwrap(
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => PGlite.create({ loadDataDir: template })),
      (client) => Effect.promise(() => client.close())
    ),
    (client) => PgliteStore.layerClient(withoutPrivateApi(client))
  )
)
taskStoreSuite("pglite without its private protocol API", publicApiOnly)
checkpointSuite("pglite without its private protocol API", publicApiOnly)

describe("Driver.pglite", () => {
  it.effect("runs statements through the public query where the client lacks the private protocol API", () =>
    Effect.gen(function* () {
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => PGlite.create({ loadDataDir: template })),
        (client) => Effect.promise(() => client.close())
      )
      const driver = Driver.pglite(withoutPrivateApi(client))
      const add = driver.prepare("a", sql`select ${sql.placeholder("n")}::int + 1 as n`)
      assert.deepStrictEqual([yield* add({ n: 1 }), yield* add({ n: 2 })], [[{ n: 2 }], [{ n: 3 }]])
      const statements = yield* Effect.promise(() =>
        client.query<{ readonly n: number }>("select count(*)::int as n from pg_prepared_statements")
      )
      assert.deepStrictEqual(statements.rows, [{ n: 0 }], "no statement was prepared by name")
    })
  )

  it.effect("runs the statements of two drivers over one client, each prepared once under its own name", () =>
    Effect.gen(function* () {
      const client = yield* Effect.acquireRelease(
        Effect.promise(() => PGlite.create({ loadDataDir: template })),
        (client) => Effect.promise(() => client.close())
      )
      const first = Driver.pglite(client)
      const second = Driver.pglite(client)
      const same = sql`select ${sql.placeholder("n")}::int + 1 as n`
      assert.deepStrictEqual(yield* first.prepare("a", same)({ n: 1 }), [{ n: 2 }])
      assert.deepStrictEqual(yield* second.prepare("b", same)({ n: 2 }), [{ n: 3 }])
      assert.deepStrictEqual(yield* second.prepare("c", sql`select 'other' as t`)(), [{ t: "other" }])
      assert.deepStrictEqual(yield* first.prepare("d", sql`select 'another' as t`)(), [{ t: "another" }])
      const statements = yield* Effect.promise(() =>
        client.query<{ readonly name: string }>("select name from pg_prepared_statements order by name")
      )
      assert.deepStrictEqual(
        statements.rows.map((row) => row.name),
        ["waypoint_1", "waypoint_2", "waypoint_3"]
      )
    })
  )
})

describe("PgliteStore", () => {
  it.effect(
    "keeps tasks in its folder, created with its parents, across a close and a reopen",
    () =>
      Effect.gen(function* () {
        const dataDir = join(yield* tempDir, "nested", "data")
        const created = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          return yield* store.create({ id: "kept", name: "job", input: { n: 1 }, idempotencyKey: "once" })
        }).pipe(Effect.provide(PgliteStore.layer({ dataDir })))
        const read = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          return yield* store.get("kept")
        }).pipe(Effect.provide(PgliteStore.layer({ dataDir })))
        assert.deepStrictEqual(read, Option.some(created))
      }),
    30_000 // a fresh folder runs initdb: seconds, more on a loaded machine
  )

  it.effect("holds 16MB of buffers unless told otherwise, and fails to open with a size PostgreSQL refuses", () =>
    Effect.gen(function* () {
      const sharedBuffers = Effect.flatMap(Effect.service(Db), (db) =>
        execute(db, "show", sql`select current_setting('shared_buffers') as size`)
      )
      const sizes = yield* Effect.all([
        Effect.provide(sharedBuffers, PgliteDb.layer({ loadDataDir: template })),
        Effect.provide(sharedBuffers, PgliteDb.layer({ loadDataDir: template, sharedBuffers: "8MB" }))
      ])
      assert.deepStrictEqual(sizes, [[{ size: "16MB" }], [{ size: "8MB" }]])
      const refused = yield* Effect.flip(
        Effect.provide(sharedBuffers, PgliteDb.layer({ loadDataDir: template, sharedBuffers: "lots" }))
      )
      assert.deepStrictEqual([refused._tag, refused.operation], ["StoreError", "open"])
    })
  )

  it.effect("tells a database with every migration from one that lacks the newest or has none", () =>
    Effect.gen(function* () {
      const client = yield* Effect.acquireRelease(
        attempt("open", () => PGlite.create({ loadDataDir: template })),
        (client) => Effect.promise(() => client.close())
      )
      const latest = () =>
        client
          .query<{ latest: string | null }>(`select max(created_at)::text as latest from drizzle.__waypoint_migrations`)
          .then((result) => result.rows[0]?.latest)
      const migrated = yield* isMigrated(latest)
      yield* attempt("delete", () =>
        client.query(
          `delete from drizzle.__waypoint_migrations where created_at = (select max(created_at) from drizzle.__waypoint_migrations)`
        )
      )
      const lacksNewest = yield* isMigrated(latest)
      yield* attempt("drop", () => client.query(`drop schema drizzle cascade`))
      const hasNone = yield* isMigrated(latest)
      assert.deepStrictEqual([migrated, lacksNewest, hasNone], [true, false, false])
    })
  )
})

describe("Runtime over PgliteStore", () => {
  it.live("a cancel or pause asked by one runtime reaches another that runs the task at once, by notification", () =>
    Effect.gen(function* () {
      const context = yield* Layer.build(layerFrom(template))
      yield* requestsAcross(context, context)
    }).pipe(Effect.scoped)
  )

  it.effect("records a task failed, not stuck running, when its output or its error holds text jsonb refuses", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const nul = task({ name: "nul", input: Schema.Void, output: Schema.String }, () => Effect.succeed("a\u0000b"))
      assert.strictEqual((yield* Effect.flip(runtime.run(nul, undefined)))._tag, "InvalidTaskOutput")
      const odd = task({ name: "odd", input: Schema.Void }, () => Effect.fail(new Error("bad\u0000byte")))
      yield* Effect.flip(runtime.run(odd, undefined))
      const items = (yield* runtime.list({})).items
      assert.deepStrictEqual(items.map((item) => [item.name, item.status]).sort(), [
        ["nul", "failed"],
        ["odd", "failed"]
      ])
      assert.strictEqual(items.find((item) => item.name === "odd")?.error?.message, "bad\uFFFDbyte")
    }).pipe(Effect.scoped, Effect.provide(layerFrom(template)))
  )

  it.effect(
    "writes every progress line of a task, one whose text jsonb refuses included, with U+FFFD in its place",
    () =>
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make()] })
        const chatty = task({ name: "chatty", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const progress = yield* Progress
            yield* progress.log("before")
            yield* progress.log("odd \u0000 line")
            yield* progress.status("status \ud800")
            yield* progress.log("after")
          })
        )
        const handle = yield* runtime.submit(chatty, undefined)
        yield* handle.await
        const logs = yield* (yield* ProgressStore).listLogs(handle.id, { limit: 10 })
        assert.deepStrictEqual(
          logs.map((entry) => entry.message),
          ["before", "odd \uFFFD line", "after"]
        )
        const latest = Option.getOrThrow(yield* (yield* ProgressStore).getLatest(handle.id))
        assert.strictEqual(latest.status, "status \uFFFD")
      }).pipe(Effect.scoped, Effect.provide(layerFrom(template)))
  )
})
