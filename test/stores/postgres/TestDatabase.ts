/**
 * Throwaway server databases for tests: `pgSchema("waypoint")` is fixed when the module loads, so tests isolate by
 * database (`wp_test_<random>`), created through an admin connection to `DATABASE_URL` and dropped after. Without
 * `DATABASE_URL` the server tests are skipped, under a describe whose name says so:
 * `describe.skipIf(TestDatabase.noServer)("...: needs DATABASE_URL", ...)`.
 */
import { randomBytes } from "node:crypto"
import { afterAll } from "@effect/vitest"
import { sql } from "drizzle-orm"
import { Effect, Layer } from "effect"
import postgres from "postgres"
import type { StoreError } from "../../../src/stores/errors.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import type { Driver } from "../../../src/stores/postgres/Driver.ts"
import { attempt } from "../../../src/stores/postgres/internal/attempt.ts"
import * as PgStores from "../../../src/stores/postgres/PgStores.ts"
import * as PostgresDb from "../../../src/stores/postgres/PostgresDb.ts"

/** The server the tests use (`DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`); empty when unset. */
export const adminUrl: string = process.env.DATABASE_URL ?? ""

/** Whether no server is given: its tests are then skipped, by a describe named "...: needs DATABASE_URL". */
export const noServer = adminUrl === ""

/** Runs one statement on a short-lived admin connection to `adminUrl`. */
const admin = (adminUrl: string, statement: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(adminUrl, { max: 1, onnotice: () => {} })),
    (client) => attempt("admin", () => client.unsafe(statement)),
    (client) => Effect.promise(() => client.end())
  )

/** Creates an empty database next to `adminUrl`'s and returns its URL. */
export const create = (adminUrl: string): Effect.Effect<string, StoreError> => {
  const name = `wp_test_${randomBytes(6).toString("hex")}`
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return Effect.as(admin(adminUrl, `create database ${name}`), url.toString())
}

/** Drops the database at `url`, ending its connections. */
export const drop = (adminUrl: string, url: string): Effect.Effect<void, StoreError> =>
  Effect.asVoid(admin(adminUrl, `drop database if exists ${new URL(url).pathname.slice(1)} with (force)`))

/** A database that lives as long as the scope. */
export const scoped = (adminUrl: string) =>
  Effect.acquireRelease(create(adminUrl), (url) => Effect.orDie(drop(adminUrl, url)))

// Empties every table of the schema, whichever tables later migrations add.
const truncateAll = Layer.effectDiscard(
  Effect.gen(function* () {
    const db = yield* Db
    yield* execute(
      db,
      "truncate",
      sql`do $$ declare tables text; begin
        select string_agg(format('%I.%I', schemaname, tablename), ', ') into tables
          from pg_tables where schemaname = 'waypoint';
        if tables is not null then execute 'truncate ' || tables; end if;
      end $$`
    )
  })
)

/** Every PostgreSQL store (`PgStores.layer`) and their `Db` and `Driver`. */
export type Stores = Layer.Success<typeof PgStores.layer> | Db | Driver

/** Every store and their `Db` on the database at `url`, emptied when the layer is built. */
export const layer = (url: string): Layer.Layer<Stores, StoreError> =>
  Layer.provideMerge(PgStores.layer, Layer.provideMerge(truncateAll, PostgresDb.layer({ url })))

/**
 * The same over a client `connect` makes for each build (another postgres.js version), ended with the layer; the
 * stores are given it as a client of the caller's.
 */
export const layerClient = (connect: () => postgres.Sql): Layer.Layer<Stores, StoreError> =>
  Layer.unwrap(
    Effect.map(
      Effect.acquireRelease(Effect.sync(connect), (client) => Effect.promise(() => client.end())),
      (client) => Layer.provideMerge(PgStores.layer, Layer.provideMerge(truncateAll, PostgresDb.layerClient(client)))
    )
  )

/**
 * One database for the suites of a describe: created when a test first builds a layer on it (so never in a describe
 * that is skipped) and dropped once the describe's tests are done. Call it inside that describe.
 */
export const shared = () => {
  let created: Promise<string> | undefined
  const url = Effect.promise(() => {
    created ??= Effect.runPromise(create(adminUrl))
    return created
  })
  afterAll(async () => {
    if (created !== undefined) await Effect.runPromise(drop(adminUrl, await created))
  })
  return {
    url,
    /** As `layer`, on the shared database. */
    layer: Layer.unwrap(Effect.map(url, layer)),
    /** As `layerClient`, on the shared database. */
    layerClient: (connect: (url: string) => postgres.Sql) =>
      Layer.unwrap(Effect.map(url, (database) => layerClient(() => connect(database))))
  }
}
