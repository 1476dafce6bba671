/**
 * The options of the PostgreSQL store layers: a pool of at most `maxConnections`, postgres.js options passed through,
 * a client of the caller's used and left open, `migrate: false` that refuses a database lacking migrations (naming
 * them) instead of migrating it, and `PostgresStore.migrate` that migrates alone.
 */
import { readFile } from "node:fs/promises"
import { assert, describe, it } from "@effect/vitest"
import type { PGlite } from "@electric-sql/pglite"
import { Context, Effect, Fiber, Layer, Option, Schedule } from "effect"
import postgres from "postgres"
import { TaskStore } from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import { makeTemplate } from "./postgres/pgliteTemplate.ts"
import * as TestDatabase from "./postgres/TestDatabase.ts"

/** drizzle-kit's tags of every migration this version ships, oldest first. */
const allMigrations = Effect.promise(async () => {
  const journal = JSON.parse(
    await readFile(new URL("../../src/stores/postgres/migrations/meta/_journal.json", import.meta.url), "utf8")
  ) as { entries: ReadonlyArray<{ when: number; tag: string }> }
  return [...journal.entries].sort((a, b) => a.when - b.when).map((entry) => entry.tag)
})

const openPglite = (options: { readonly loadDataDir?: Blob }) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const { PGlite } = await import("@electric-sql/pglite")
      return PGlite.create(options)
    }),
    (client) => Effect.promise(() => client.close())
  )

const template = await Effect.runPromise(makeTemplate)

describe("PgliteStore.layerClient", () => {
  it.effect("uses the client given and leaves it open when the layer's scope ends", () =>
    Effect.gen(function* () {
      const client: PGlite = yield* openPglite({ loadDataDir: template })
      yield* Effect.gen(function* () {
        yield* (yield* TaskStore).create({ id: "mine", name: "job", input: null })
      }).pipe(Effect.provide(PgliteStore.layerClient(client)))
      assert.isFalse(client.closed)
      const rows = yield* Effect.promise(() => client.query<{ id: string }>("select id from waypoint.tasks"))
      assert.deepStrictEqual(rows.rows, [{ id: "mine" }])
    })
  )

  it.effect(
    "with migrate: false, refuses a database without the migrations, naming them, and opens a migrated one",
    () =>
      Effect.gen(function* () {
        const fresh = yield* openPglite({})
        const error = yield* Effect.flip(Layer.build(PgliteStore.layerClient(fresh, { migrate: false })))
        assert.strictEqual(error._tag, "MigrationsMissing")
        if (error._tag === "MigrationsMissing") assert.deepStrictEqual(error.missing, yield* allMigrations)
        const schemas = yield* Effect.promise(() =>
          fresh.query<{ n: number }>("select count(*)::int as n from pg_namespace where nspname = 'waypoint'")
        )
        assert.deepStrictEqual(schemas.rows, [{ n: 0 }], "nothing was migrated")
        const migrated = yield* openPglite({ loadDataDir: template })
        const context = yield* Layer.build(PgliteStore.layerClient(migrated, { migrate: false }))
        yield* Context.get(context, TaskStore).create({ id: "t", name: "job", input: null })
      }),
    30_000 // an in-memory database without a template runs initdb
  )
})

const adminUrl = TestDatabase.adminUrl

/** Runs `f` on a client of its own to `url`, ended after. */
const query = <A>(url: string, f: (sql: postgres.Sql) => Promise<A>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(url, { max: 1, onnotice: () => {} })),
    (sql) => Effect.promise(() => f(sql)),
    (sql) => Effect.promise(() => sql.end())
  )

describe.skipIf(TestDatabase.noServer)("PostgresStore.layer options: needs DATABASE_URL", () => {
  it.live("opens at most maxConnections connections, with the postgres.js options given", () =>
    Effect.gen(function* () {
      const url = yield* TestDatabase.scoped(adminUrl)
      const name = "wp_pool_of_2"
      const context = yield* Layer.build(
        PostgresStore.layer({ url, maxConnections: 2, connection: { connection: { application_name: name } } })
      )
      const store = Context.get(context, TaskStore)
      const ids = Array.from({ length: 12 }, (_, i) => `t${i}`)
      yield* Effect.forEach(ids, (id) => store.create({ id, name: id, input: null }))
      // Another session holds the table, so every claim waits on it. A claim under a limit is a transaction, which
      // has a connection to itself: the pool opens one per claim, up to its size, and the rest queue for one.
      const locker = yield* Effect.acquireRelease(
        Effect.promise(() => postgres(url, { max: 1, onnotice: () => {} }).reserve()),
        (sql) => Effect.sync(() => sql.release())
      )
      yield* Effect.promise(() => locker`begin`)
      yield* Effect.promise(() => locker`lock table waypoint.tasks in access exclusive mode`)
      const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER, maxParallel: 100 }
      const claims = yield* Effect.forkChild(
        Effect.forEach(ids, (id) => store.claim(id, lease), { concurrency: "unbounded" })
      )
      const sessions = Effect.promise(
        () => locker`select count(*)::int as total, (count(*) filter (where wait_event_type = 'Lock'))::int as waiting
            from pg_stat_activity where application_name = ${name}`
      )
      yield* Effect.repeat(sessions, {
        until: (rows) => (rows[0]?.waiting ?? 0) >= 1,
        schedule: Schedule.spaced("10 millis")
      })
      yield* Effect.promise(() => locker`commit`)
      assert.isTrue((yield* Fiber.join(claims)).every(Option.isSome))
      // postgres.js keeps what it opened (no idle timeout): the count is every connection the pool ever had. It opens
      // fewer than its size when it can (it pipelines), so this checks the bound, not that it is reached.
      const after = yield* sessions
      assert.isAtLeast(after[0]?.total ?? 0, 1, "the pool's connections carry the application_name given")
      assert.isAtMost(after[0]?.total ?? 0, 2)
    }).pipe(Effect.scoped)
  )

  it.effect("layerClient uses the client given and leaves it open when the layer's scope ends", () =>
    Effect.gen(function* () {
      const url = yield* TestDatabase.scoped(adminUrl)
      const sent: Array<string> = []
      const sql = yield* Effect.acquireRelease(
        Effect.sync(() =>
          postgres(url, { max: 2, fetch_types: false, onnotice: () => {}, debug: (_, text) => sent.push(text) })
        ),
        (sql) => Effect.promise(() => sql.end())
      )
      yield* Effect.gen(function* () {
        yield* (yield* TaskStore).create({ id: "mine", name: "job", input: null })
      }).pipe(Effect.provide(PostgresStore.layerClient(sql)))
      assert.isTrue(sent.some((text) => text.startsWith('insert into "waypoint"."tasks"')))
      const rows = yield* Effect.promise(() => sql`select id from waypoint.tasks`)
      assert.deepStrictEqual([...rows], [{ id: "mine" }])
    })
  )

  it.effect(
    "with migrate: false, refuses a database lacking migrations, naming them, until PostgresStore.migrate ran",
    () =>
      Effect.gen(function* () {
        const url = yield* TestDatabase.scoped(adminUrl)
        const all = yield* allMigrations
        const refused = yield* Effect.flip(Layer.build(PostgresStore.layer({ url, migrate: false })))
        assert.deepStrictEqual(refused._tag === "MigrationsMissing" ? refused.missing : refused, all)
        assert.match(refused.message, /the database lacks the store's migrations 0000_init, .*: run them first/)
        const schemas = yield* query(url, (sql) => sql`select nspname from pg_namespace where nspname = 'waypoint'`)
        assert.strictEqual(schemas.length, 0, "nothing was migrated")

        yield* PostgresStore.migrate({ url })
        const opened = yield* Layer.build(PostgresStore.layer({ url, migrate: false }))
        yield* Context.get(opened, TaskStore).create({ id: "t", name: "job", input: null })

        // a database one migration behind names that one
        yield* query(
          url,
          (sql) =>
            sql`delete from drizzle.__waypoint_migrations where created_at = (select max(created_at) from drizzle.__waypoint_migrations)`
        )
        const behind = yield* Effect.flip(Layer.build(PostgresStore.layer({ url, migrate: false })))
        assert.deepStrictEqual(behind._tag === "MigrationsMissing" ? behind.missing : behind, all.slice(-1))
      })
  )

  it.effect("PostgresStore.migrate, run twice and from 3 processes' worth of calls at once, migrates once", () =>
    Effect.gen(function* () {
      const url = yield* TestDatabase.scoped(adminUrl)
      yield* Effect.all(
        [PostgresStore.migrate({ url }), PostgresStore.migrate({ url }), PostgresStore.migrate({ url })],
        {
          concurrency: "unbounded"
        }
      )
      yield* PostgresStore.migrate({ url })
      const applied = yield* query(url, (sql) => sql`select count(*)::int as n from drizzle.__waypoint_migrations`)
      assert.deepStrictEqual([...applied], [{ n: (yield* allMigrations).length }])
    })
  )

  it.effect("PostgresStore.migrate fails with StoreError when its database does not exist", () =>
    Effect.gen(function* () {
      const missing = new URL(adminUrl)
      missing.pathname = "/wp_test_does_not_exist"
      const error = yield* Effect.flip(PostgresStore.migrate({ url: missing.toString() }))
      assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "migrate"])
    })
  )
})

describe("PostgresStore.layer, given options no program should run with", () => {
  it.effect("refuses a pool of no connection and a missing URL at once, naming the option (one waited for ever)", () =>
    Effect.gen(function* () {
      const open = (options: PostgresStore.Options) =>
        Effect.flip(Effect.scoped(Layer.build(PostgresStore.layer(options))))
      const url = "postgres://nobody@127.0.0.1:1/none" // never reached
      for (const maxConnections of [0, -1, 1.5, Number.NaN]) {
        const error = yield* open({ url, maxConnections })
        assert.strictEqual(error._tag, "StoreError")
        assert.include(error.message, "maxConnections must be a whole number from 1")
      }
      // a typo in plain JavaScript (`uri`) reaches the layer as no URL at all
      const noUrl = yield* open({} as PostgresStore.Options)
      assert.include(noUrl.message, "url must be a connection string")
    })
  )
})
