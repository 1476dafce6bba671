/**
 * What the PostgreSQL stores share, whichever driver is under them: the drizzle `Db` their queries are written
 * against, the `Driver` that runs the hot paths' prepared statements, and `attempt`, which turns a driver's failure
 * into a `StoreError` and runs a statement that met a lost server connection again on a fresh one. The drivers
 * themselves load only when a store is built (`PgliteDb.ts`, `PostgresDb.ts`).
 */
import { readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import type { PGlite } from "@electric-sql/pglite"
import { fillPlaceholders, type SQL, type SQLWrapper } from "drizzle-orm"
import { type PgDatabase, PgDialect, type PgQueryResultHKT } from "drizzle-orm/pg-core"
import { Context, Duration, Effect, Predicate, Schedule, Schema } from "effect"
import type postgres from "postgres"
import { StoreError } from "../errors.ts"
import { StoreClosed } from "./errors.ts"
import { runPglite } from "./internal/pgliteRun.ts"
import { runPostgres } from "./internal/postgresRun.ts"
import type * as schema from "./schema.ts"

/** A drizzle database over either driver; queries are written once against it. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

// Resolved against this module so it works from node_modules and under Deno.
const migrationsFolder = fileURLToPath(new URL("./migrations", import.meta.url))
/**
 * Not in the `waypoint` schema (the first migration creates that schema), and not drizzle's default table, which an
 * application's own drizzle migrations would share (the migrator skips every migration older than the newest row).
 */
export const migrationConfig = {
  migrationsFolder,
  migrationsSchema: "drizzle",
  migrationsTable: "__waypoint_migrations"
} as const

// drizzle-kit's journal of the migrations this version ships; the migrator records each one's `when` as `created_at`.
const journalFile = fileURLToPath(new URL("./migrations/meta/_journal.json", import.meta.url))
const Journal = Schema.Struct({
  entries: Schema.NonEmptyArray(Schema.Struct({ when: Schema.Number, tag: Schema.String }))
})

/** The migrations this version ships, oldest first. */
const journal = Effect.gen(function* () {
  const text = yield* attemptOnce("migrate", () => readFile(journalFile, "utf8"))
  const json = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new StoreError({ operation: "migrate", cause })
  })
  const decoded = yield* Schema.decodeUnknownEffect(Journal)(json).pipe(
    Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
  )
  return [...decoded.entries].sort((a, b) => a.when - b.when)
})

/** The `created_at` of the newest migration a database records: a text, or null when it records none. */
export const appliedQuery = `select max(created_at)::text as latest from "${migrationConfig.migrationsSchema}"."${migrationConfig.migrationsTable}"`

/**
 * Whether a database has every migration this version ships, read with one query (`latest` runs it), so that opening
 * a migrated database skips the migrator, which reads and hashes every migration file (15-30 ms in a fresh process
 * here). A database without the migrations table, or that cannot answer, is not up to date: the migrator runs.
 */
export const isMigrated = (latest: () => PromiseLike<unknown>): Effect.Effect<boolean, StoreError> =>
  Effect.flatMap(journal, (entries) =>
    Effect.tryPromise(() => Promise.resolve(latest())).pipe(
      Effect.map((value) => value !== null && value !== undefined && Number(value) >= (entries.at(-1)?.when ?? 0)),
      Effect.orElseSucceed(() => false)
    )
  )

// undefined_table, invalid_schema_name: no migration was ever applied
const neverMigrated: ReadonlySet<unknown> = new Set(["42P01", "3F000"])

/**
 * The tags of the migrations a database lacks (those newer than the newest it records, as the migrator decides),
 * oldest first; every one for a database that never ran any. Failing to ask is a `StoreError`.
 */
export const pendingMigrations = (
  latest: () => PromiseLike<unknown>
): Effect.Effect<ReadonlyArray<string>, StoreError> =>
  Effect.gen(function* () {
    const entries = yield* journal
    const applied = yield* Effect.tryPromise({
      try: () => Promise.resolve(latest()),
      catch: (cause) => new StoreError({ operation: "migrate", cause })
    }).pipe(
      Effect.map((value) => (value === null || value === undefined ? 0 : Number(value))),
      Effect.catchIf(
        (error) => causes(error.cause).some((cause) => neverMigrated.has(codeOf(cause))),
        () => Effect.succeed(0)
      )
    )
    return entries.filter((entry) => entry.when > applied).map((entry) => entry.tag)
  })

/** An error and the errors it wraps (drizzle wraps the driver's in its own), outermost first. */
const causes = (error: unknown): ReadonlyArray<unknown> => {
  const found: Array<unknown> = []
  for (let cause = error; found.length < 4 && Predicate.isObject(cause); ) {
    found.push(cause)
    cause = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
  }
  return found
}
const codeOf = (error: unknown): unknown => (Predicate.hasProperty(error, "code") ? error.code : undefined)

/**
 * What a client fails with once it was closed: postgres.js after `end()` (CONNECTION_ENDED, or CONNECTION_DESTROYED
 * for a query `end` cut), PGlite after `close()`. No retry can succeed.
 */
const isClosedError = (error: unknown): boolean =>
  causes(error).some(
    (cause) =>
      codeOf(cause) === "CONNECTION_ENDED" ||
      codeOf(cause) === "CONNECTION_DESTROYED" ||
      (cause instanceof Error && (cause.message === "PGlite is closed" || cause.message === "PGlite is closing"))
  )

/** A driver's failure as a `StoreError`; a closed client's says so (`StoreClosed`), with what to do. */
const toStoreError = (operation: string, cause: unknown): StoreError =>
  new StoreError({ operation, cause: isClosedError(cause) ? new StoreClosed({ operation, cause }) : cause })

/** Runs one driver call once; whatever it throws or rejects with becomes a `StoreError` naming the operation. */
export const attemptOnce = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: () => Promise.resolve(run()), catch: (cause) => toStoreError(operation, cause) })

/**
 * What a connection that went away, or could not be made for now, fails with. SQLSTATE class 08 (connection
 * exception; not 08P01, a protocol violation), 57P01-57P03 (the backend was terminated, crashed, or cannot take
 * connections yet) and 53300 (too many connections); postgres.js's CONNECTION_CLOSED (its socket was cut) and
 * CONNECT_TIMEOUT (no answer within `connect_timeout`); the sockets' own ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT,
 * unreachable hosts and networks, and a name lookup that failed for now (EAI_AGAIN). Not CONNECTION_ENDED nor
 * CONNECTION_DESTROYED: postgres.js raises those only after this process's own `end()`. PGlite, in process, fails
 * with none of these.
 */
const transientCodes: ReadonlySet<unknown> = new Set([
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "08007",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "CONNECTION_CLOSED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTCONN",
  "EAI_AGAIN"
])

/** Whether a `StoreError` came from a lost (or not yet made) connection; drizzle wraps the driver's error in its own. */
export const isTransient = (error: StoreError): boolean =>
  causes(error.cause).some((cause) => transientCodes.has(codeOf(cause)))

// 50, 100, 200 ms... up to 2 s between tries (each within 20% either way), for up to 30 s: time for a pool whose
// backends were terminated, a restarted server or pooler, or a failover, to let connections in again (a lease lasts
// 30 s by default). A longer outage reaches the caller as a StoreError.
const transientRetry = {
  schedule: Schedule.exponential("50 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(2)))),
    Schedule.jittered,
    Schedule.upTo({ duration: "30 seconds" })
  ),
  while: isTransient
}

/**
 * Runs one driver call; whatever it throws or rejects with becomes a `StoreError` naming the operation. A call that
 * failed on a lost connection (`isTransient`) runs again, on a new connection, a few times with a growing delay;
 * every other failure returns at once. A call on a closed store fails with a `StoreError` whose cause is
 * `StoreClosed`.
 *
 * At least once: a statement whose commit reached the server but whose reply was lost runs again (one that failed
 * before its commit was rolled back, and runs once). For most statements that is harmless: `finish` finds its token
 * spent and fails with `LeaseLost` (the driver then reads the outcome it recorded), a heartbeat or a state `put`
 * writes the same again, `putStep` and `receiveSignal` keep the first value, `create` with an idempotency key
 * returns the task it created. Some show it: `create` without a key fails on its own id (StoreError, yet the task
 * exists), `claim` returns `None` and leaves the task `running` under this owner until its lease expires (or
 * `recover`), `compareAndSet` reports a conflict with its own write (so `modify` applies its function again), and
 * `sendSignal`, `appendLogs` and a snapshot `save` add their row twice.
 */
export const attempt = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.retry(attemptOnce(operation, run), transientRetry)

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

/** Rows keyed by column name: int8 reads as a number and jsonb as parsed JSON (so read it as `::text`), on both drivers. */
export type Rows = ReadonlyArray<Record<string, unknown>>

/** One prepared statement: the values of its placeholders in, its rows out. */
export type Statement = (values?: Record<string, unknown>) => Effect.Effect<Rows, StoreError>

/** Runs SQL text with positional parameters on the driver itself, as a named prepared statement. */
export type Run = (text: string, params: ReadonlyArray<unknown>) => Promise<Rows>

// Renders drizzle `sql` to text and parameters, as both drivers' drizzle sessions do (no casing option is used).
const dialect = new PgDialect()

/**
 * The driver under the `Db`, for the hot paths (claim, checkpoint, heartbeat, finish, ...): a statement is written
 * once, with drizzle (`sql` or a query builder, placeholders by name), rendered to text once, and each call runs it
 * as a named prepared statement on the raw client, without the query builder or drizzle's session in between. Name
 * result columns as the caller reads them (`sql\`...\`.as("camelCase")`): rows are not mapped.
 *
 * On postgres.js that is `unsafe(text, params, { prepare: true })`, parsed once per pooled connection; on PGlite,
 * its wire protocol (`internal/pgliteRun.ts`).
 */
export class Driver extends Context.Service<
  Driver,
  {
    /** Prepares `query` for `operation`, whose name its `StoreError`s carry; nothing is sent before the first run. */
    readonly prepare: (operation: string, query: SQLWrapper) => Statement
  }
>()("waypoint/stores/postgres/Driver") {
  /** The driver of a PGlite client. */
  static readonly pglite = (client: PGlite): Driver["Service"] => Driver.of({ prepare: preparer(runPglite(client)) })
  /** The driver of a postgres.js client (or pool). */
  static readonly postgres = (client: postgres.Sql): Driver["Service"] =>
    Driver.of({ prepare: preparer(runPostgres(client)) })
  /** The driver over a `Run`. */
  static readonly make = (run: Run): Driver["Service"] => Driver.of({ prepare: preparer(run) })
}

// A statement is rendered on its first run, not when prepared: a store prepares every statement it may run when it
// opens, and rendering them all cost several milliseconds of each open (of a restarted worker's recovery).
const preparer =
  (run: Run) =>
  (operation: string, query: SQLWrapper): Statement => {
    let rendered: { readonly sql: string; readonly params: Array<unknown> } | undefined
    return (values = {}) =>
      attempt(operation, () => {
        rendered ??= dialect.sqlToQuery(query.getSQL())
        return run(rendered.sql, fillPlaceholders(rendered.params, values))
      })
  }

/** The database the PostgreSQL stores run their queries on. */
export class Db extends Context.Service<Db, Database>()("waypoint/stores/postgres/Db") {}
