/**
 * The one database connection the PostgreSQL stores share: drizzle over PGlite (embedded, in a folder or in memory)
 * or over postgres.js (a server). Opening applies pending migrations first; closing the layer's scope closes the
 * driver.
 */
import { mkdir } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { PGlite } from "@electric-sql/pglite"
import type { SQL } from "drizzle-orm"
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core"
import { drizzle as drizzlePglite } from "drizzle-orm/pglite"
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator"
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js"
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator"
import { Context, Effect, Layer, Predicate } from "effect"
import postgres from "postgres"
import { StoreError } from "../errors.ts"
import * as schema from "./schema.ts"

/** A drizzle database over either driver; queries are written once against it. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/** Options of the embedded PGlite database. */
export interface PgliteOptions {
  /** The folder holding the data, created with its parents if missing. Omitted: in memory, gone on close. */
  readonly dataDir?: string | undefined
  /**
   * Starts from a data directory dumped with `PGlite.dumpDataDir()` instead of running initdb (seconds faster).
   * Tests use it to start each store from one migrated template.
   */
  readonly loadDataDir?: Blob | undefined
}

/** Options of a PostgreSQL server database. */
export interface PostgresOptions {
  /** A connection string, e.g. `postgres://user@host:5432/db`. */
  readonly url: string
}

// Resolved against this module so it works from node_modules and under Deno.
const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url))
// Not in the `waypoint` schema (the first migration creates that schema), and not drizzle's default table, which an
// application's own drizzle migrations would share (the migrator skips every migration older than the newest row).
const migrationConfig = { migrationsFolder, migrationsSchema: "drizzle", migrationsTable: "__waypoint_migrations" }

/** Runs one driver call; whatever it throws or rejects with becomes a `StoreError` naming the operation. */
export const attempt = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: () => Promise.resolve(run()), catch: (cause) => new StoreError({ operation, cause }) })

// How long closing waits for queries still running before it cuts the connections.
const closeTimeoutSeconds = 5

// Notices (e.g. "schema already exists, skipping" from the migrator) are not errors: keep them off stdout.
const connect = (url: string, maxConnections: number) =>
  Effect.try({
    try: () => postgres(url, { max: maxConnections, onnotice: () => {} }),
    catch: (cause) => new StoreError({ operation: "open", cause })
  })

/** Runs raw SQL and returns its rows, whichever driver answers (postgres.js gives an array, PGlite `{ rows }`). */
export const execute = (
  db: Database,
  operation: string,
  query: SQL
): Effect.Effect<ReadonlyArray<Record<string, unknown>>, StoreError> =>
  Effect.flatMap(
    attempt(operation, () => db.execute(query)),
    (result: unknown) => {
      if (Array.isArray(result)) return Effect.succeed(result)
      if (Predicate.hasProperty(result, "rows") && Array.isArray(result.rows)) return Effect.succeed(result.rows)
      return Effect.fail(new StoreError({ operation, cause: new Error("the driver returned no rows array") }))
    }
  )

const openPglite = (options: PgliteOptions) =>
  Effect.gen(function* () {
    const dataDir = options.dataDir
    // PGlite does not create missing parent folders
    if (dataDir !== undefined) yield* attempt("open", () => mkdir(dataDir, { recursive: true }))
    return yield* Effect.acquireRelease(
      attempt("open", () =>
        PGlite.create({
          ...(dataDir === undefined ? {} : { dataDir }),
          ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir })
        })
      ),
      (client) => Effect.ignore(attempt("close", () => client.close()))
    )
  })

/**
 * Migrates a server database. The drizzle migrator takes no lock, so two processes opening a fresh database at
 * once would both create the schema: an advisory lock, held on this one connection, makes them take turns.
 */
const migrateServer = (url: string) =>
  Effect.acquireUseRelease(
    connect(url, 1),
    (client) =>
      Effect.gen(function* () {
        yield* attempt("migrate", () => client`select pg_advisory_lock(hashtext('waypoint:migrate'))`)
        yield* attempt("migrate", () => migratePostgres(drizzlePostgres({ client, schema }), migrationConfig))
        yield* attempt("migrate", () => client`select pg_advisory_unlock(hashtext('waypoint:migrate'))`)
      }),
    // closing the connection also releases the lock if a step above failed
    (client) => Effect.ignore(attempt("close", () => client.end({ timeout: closeTimeoutSeconds })))
  )

/** The database the PostgreSQL stores run their queries on. */
export class Db extends Context.Service<Db, Database>()("waypoint/stores/postgres/Db") {
  /** An embedded PGlite database, migrated on open and closed with the layer's scope. */
  static readonly layerPglite = (options: PgliteOptions = {}): Layer.Layer<Db, StoreError> =>
    Layer.effect(
      Db,
      Effect.gen(function* () {
        const client = yield* openPglite(options)
        const db = drizzlePglite({ client, schema })
        yield* attempt("migrate", () => migratePglite(db, migrationConfig))
        return db
      })
    )

  /** A PostgreSQL server database through a postgres.js pool, migrated on open and closed with the layer's scope. */
  static readonly layerPostgres = (options: PostgresOptions): Layer.Layer<Db, StoreError> =>
    Layer.effect(
      Db,
      Effect.gen(function* () {
        yield* migrateServer(options.url)
        const client = yield* Effect.acquireRelease(connect(options.url, 10), (client) =>
          Effect.ignore(attempt("close", () => client.end({ timeout: closeTimeoutSeconds })))
        )
        return drizzlePostgres({ client, schema })
      })
    )
}
