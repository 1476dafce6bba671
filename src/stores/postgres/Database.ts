/**
 * The one database connection the PostgreSQL stores share: drizzle over PGlite (embedded, in a folder or in memory)
 * or over postgres.js (a server), the `Driver` under it for the hot paths' prepared statements, and the
 * `Notifications` that wake workers. Opening applies pending migrations first; closing the layer's scope closes the
 * listener and the driver. A statement that meets a lost server connection is run again on a fresh one.
 */
import { mkdir, readFile } from "node:fs/promises"
import { fileURLToPath } from "node:url"
import { type ExecProtocolResult, PGlite, parse, protocol } from "@electric-sql/pglite"
import { fillPlaceholders, type SQL, type SQLWrapper } from "drizzle-orm"
import { type PgDatabase, PgDialect, type PgQueryResultHKT } from "drizzle-orm/pg-core"
import { drizzle as drizzlePglite } from "drizzle-orm/pglite"
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator"
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js"
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator"
import { Context, Duration, Effect, Layer, Predicate, Schedule, Schema } from "effect"
import postgres from "postgres"
import { StoreError } from "../errors.ts"
import { type Listen, Notifications } from "./Notifications.ts"
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
  /**
   * The size of PostgreSQL's buffer pool inside PGlite, as PostgreSQL writes sizes (`"64MB"`). Default: 16MB.
   * PGlite's own default, 128MB, makes every open take about twice as long (about 120 against 65 ms here): a
   * restarted worker resumes its tasks that much later. Pages the pool does not hold are read from the folder's
   * files (through the operating system's cache): raise it for a working set of hundreds of megabytes.
   */
  readonly sharedBuffers?: string | undefined
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

// drizzle-kit's journal of the migrations this version ships; the migrator records each one's `when` as `created_at`.
const journalFile = fileURLToPath(new URL("./migrations/meta/_journal.json", import.meta.url))
const Journal = Schema.Struct({ entries: Schema.NonEmptyArray(Schema.Struct({ when: Schema.Number })) })

/** The `when` of the newest migration this version ships. */
const newestMigration: Effect.Effect<number, StoreError> = Effect.gen(function* () {
  const text = yield* attemptOnce("migrate", () => readFile(journalFile, "utf8"))
  const journal = yield* Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: (cause) => new StoreError({ operation: "migrate", cause })
  })
  const decoded = yield* Schema.decodeUnknownEffect(Journal)(journal).pipe(
    Effect.mapError((cause) => new StoreError({ operation: "migrate", cause }))
  )
  return Math.max(...decoded.entries.map((entry) => entry.when))
})

/** The `created_at` of the newest migration a database records: a text, or null when it records none. */
const appliedQuery = `select max(created_at)::text as latest from "${migrationConfig.migrationsSchema}"."${migrationConfig.migrationsTable}"`

/**
 * Whether a database has every migration this version ships, read with one query (`latest` runs it), so that opening
 * a migrated database skips the migrator, which reads and hashes every migration file (15-30 ms in a fresh process
 * here). A database without the migrations table, or that cannot answer, is not up to date: the migrator runs.
 */
export const isMigrated = (latest: () => PromiseLike<unknown>): Effect.Effect<boolean, StoreError> =>
  Effect.flatMap(newestMigration, (newest) =>
    Effect.tryPromise(() => Promise.resolve(latest())).pipe(
      Effect.map((value) => value !== null && value !== undefined && Number(value) >= newest),
      Effect.orElseSucceed(() => false)
    )
  )

/** Runs one driver call once; whatever it throws or rejects with becomes a `StoreError` naming the operation. */
const attemptOnce = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: () => Promise.resolve(run()), catch: (cause) => new StoreError({ operation, cause }) })

/**
 * What a server connection that went away fails with: its backend was terminated (SQLSTATE 57P01 admin shutdown,
 * 57P02 crash shutdown, 57P03 cannot connect now) or its socket was cut (postgres.js: ECONNRESET, EPIPE,
 * CONNECTION_CLOSED). Not CONNECTION_ENDED nor CONNECTION_DESTROYED: postgres.js raises those only after this
 * process's own `end()`, and no retry can succeed then. PGlite, in process, fails with none of these.
 */
const transientCodes: ReadonlySet<unknown> = new Set([
  "57P01",
  "57P02",
  "57P03",
  "ECONNRESET",
  "EPIPE",
  "CONNECTION_CLOSED"
])

/** Whether a `StoreError` came from a lost connection; drizzle wraps the driver's error in its own. */
export const isTransient = (error: StoreError): boolean => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 3 && Predicate.isObject(cause); depth++) {
    if (Predicate.hasProperty(cause, "code") && transientCodes.has(cause.code)) return true
    cause = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
  }
  return false
}

// 50, 100, 200, 400, 800 ms (each within 20% either way), about 1.5 s in all: time for a pool whose backends were
// terminated, or a restarted pooler, to let connections in again. A longer outage reaches the caller as StoreError.
const transientRetry = {
  schedule: Schedule.exponential("50 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(1)))),
    Schedule.jittered
  ),
  times: 5,
  while: isTransient
}

/**
 * Runs one driver call; whatever it throws or rejects with becomes a `StoreError` naming the operation. A call that
 * failed on a lost connection (`isTransient`) runs again, on a new connection, a few times with a growing delay;
 * every other failure returns at once.
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

/** Rows keyed by column name: int8 reads as a number and jsonb as parsed JSON (so read it as `::text`), on both drivers. */
export type Rows = ReadonlyArray<Record<string, unknown>>

/** One prepared statement: the values of its placeholders in, its rows out. */
export type Statement = (values?: Record<string, unknown>) => Effect.Effect<Rows, StoreError>

/** Runs SQL text with positional parameters on the driver itself, as a named prepared statement. */
type Run = (text: string, params: ReadonlyArray<unknown>) => Promise<Rows>

// Renders drizzle `sql` to text and parameters, as both drivers' drizzle sessions do (no casing option is used).
const dialect = new PgDialect()

/**
 * The driver under the `Db`, for the hot paths (claim, checkpoint, heartbeat, finish, ...): a statement is written
 * once, with drizzle (`sql` or a query builder, placeholders by name), rendered to text once, and each call runs it
 * as a named prepared statement on the raw client, without the query builder or drizzle's session in between. Name
 * result columns as the caller reads them (`sql\`...\`.as("camelCase")`): rows are not mapped.
 *
 * On postgres.js that is `unsafe(text, params, { prepare: true })`, parsed once per pooled connection. PGlite's own
 * `query` parses, describes and plans every statement again in five calls into the database; here a statement is
 * parsed and described once, and each run is one call (bind, execute, sync): measured on a step checkpoint, 0.33 ms
 * against 1.3 ms through `query`.
 */
export class Driver extends Context.Service<
  Driver,
  {
    /** Prepares `query` for `operation`, whose name its `StoreError`s carry; nothing is sent before the first run. */
    readonly prepare: (operation: string, query: SQLWrapper) => Statement
  }
>()("waypoint/stores/postgres/Driver") {
  /** The driver of a PGlite client. */
  static readonly pglite = (client: PGlite): Driver["Service"] => makeDriver(runPglite(client))
  /** The driver of a postgres.js client (or pool). */
  static readonly postgres = (client: postgres.Sql): Driver["Service"] => makeDriver(runPostgres(client))
}

// A statement is rendered on its first run, not when prepared: a store prepares every statement it may run when it
// opens, and rendering them all cost several milliseconds of each open (of a restarted worker's recovery).
const makeDriver = (run: Run): Driver["Service"] =>
  Driver.of({
    prepare: (operation, query) => {
      let rendered: { readonly sql: string; readonly params: Array<unknown> } | undefined
      return (values = {}) =>
        attempt(operation, () => {
          rendered ??= dialect.sqlToQuery(query.getSQL())
          return run(rendered.sql, fillPlaceholders(rendered.params, values))
        })
    }
  })

/** Joins protocol messages into one buffer, so that they go into PGlite in one call. */
const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const joined = new Uint8Array(parts.reduce((length, part) => length + part.length, 0))
  let offset = 0
  for (const part of parts) {
    joined.set(part, offset)
    offset += part.length
  }
  return joined
}

interface PglitePrepared {
  readonly name: string
  readonly paramTypes: ReadonlyArray<number>
  // the rowDescription, if the statement returns rows: put before each run's messages, so that `parseResults` reads
  // them as `query` does
  readonly description: ExecProtocolResult["messages"]
}

/**
 * Named prepared statements on PGlite's one connection, through its wire protocol. Each run holds PGlite's
 * transaction lock as `query` does, so it never lands inside another caller's open transaction, and serialises
 * parameters and parses rows with PGlite's own type handlers, as `query` does. A statement's text is parsed once,
 * on its first run (statements are never deallocated: a store prepares a fixed few).
 */
// Per client, not per driver: two drivers over one client must not both prepare a statement under one name.
const preparedByClient = new WeakMap<PGlite, Map<string, PglitePrepared>>()

const runPglite = (client: PGlite): Run => {
  const { serialize } = protocol
  const prepared = preparedByClient.get(client) ?? new Map<string, PglitePrepared>()
  preparedByClient.set(client, prepared)
  const exclusive = <A>(run: () => Promise<A>) => client._runExclusiveTransaction(() => client.runExclusive(run))
  const prepare = async (text: string): Promise<PglitePrepared> => {
    const known = prepared.get(text)
    if (known !== undefined) return known
    const name = `waypoint_${prepared.size + 1}`
    const described = await client.execProtocol(
      concat([serialize.parse({ name, text }), serialize.describe({ type: "S", name }), serialize.sync()])
    )
    const statement: PglitePrepared = {
      name,
      paramTypes: parse.parseDescribeStatementResults(described.messages),
      description: described.messages.filter((m) => m.name === "rowDescription")
    }
    prepared.set(text, statement)
    return statement
  }
  return (text, params) =>
    exclusive(async () => {
      const statement = await prepare(text)
      const values = params.map((value, i) => {
        if (value === null || value === undefined) return null
        const serializer = client.serializers[statement.paramTypes[i] ?? 0]
        return serializer === undefined ? String(value) : serializer(value)
      })
      const result = await client.execProtocol(
        concat([serialize.bind({ statement: statement.name, values }), serialize.execute({}), serialize.sync()])
      )
      return parse.parseResults([...statement.description, ...result.messages], client.parsers)[0]?.rows ?? []
    })
}

/** postgres.js reads int8 as a string; PGlite (and drizzle's `bigint({ mode: "number" })`) as a number. */
const runPostgres =
  (client: postgres.Sql): Run =>
  async (text, params) => {
    const rows = await client.unsafe(text, params as Array<postgres.ParameterOrJSON<never>>, { prepare: true })
    const int8 = (rows.columns ?? []).filter((column) => column.type === 20).map((column) => column.name)
    if (int8.length === 0) return rows
    for (const row of rows) {
      for (const name of int8) if (typeof row[name] === "string") row[name] = Number(row[name])
    }
    return rows
  }

const openPglite = (options: PgliteOptions) =>
  Effect.gen(function* () {
    const dataDir = options.dataDir
    // PGlite does not create missing parent folders
    if (dataDir !== undefined) yield* attemptOnce("open", () => mkdir(dataDir, { recursive: true }))
    return yield* Effect.acquireRelease(
      attemptOnce("open", () =>
        PGlite.create({
          ...(dataDir === undefined ? {} : { dataDir }),
          ...(options.loadDataDir === undefined ? {} : { loadDataDir: options.loadDataDir }),
          startParams: [...PGlite.defaultStartParams, "-c", `shared_buffers=${options.sharedBuffers ?? "16MB"}`]
        })
      ),
      (client) => Effect.ignore(attemptOnce("close", () => client.close()))
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
        // not retried: a new connection would not hold the lock
        const latest = () => client.unsafe(appliedQuery).then((rows) => rows[0]?.latest)
        // An up-to-date database (every open but the first) takes neither the lock nor the migrator.
        if (yield* isMigrated(latest)) return
        yield* attemptOnce("migrate", () => client`select pg_advisory_lock(hashtext('waypoint:migrate'))`)
        yield* attemptOnce("migrate", () => migratePostgres(drizzlePostgres({ client, schema }), migrationConfig))
        yield* attemptOnce("migrate", () => client`select pg_advisory_unlock(hashtext('waypoint:migrate'))`)
      }),
    // closing the connection also releases the lock if a step above failed
    (client) => Effect.ignore(attemptOnce("close", () => client.end({ timeout: closeTimeoutSeconds })))
  )

const notifyQuery = "select pg_notify($1, $2)"

/** PGlite delivers a session's own notifications to it: the store hears what its own process writes. */
const listenPglite =
  (client: PGlite): Listen =>
  async (channel, onNotify, onListen) => {
    const unlisten = await client.listen(channel, onNotify)
    onListen()
    return unlisten
  }

/**
 * postgres.js listens on a connection of its own, outside the pool, and subscribes again (calling `onListen`) after
 * that connection is lost.
 */
const listenPostgres =
  (client: postgres.Sql): Listen =>
  async (channel, onNotify, onListen) => {
    const subscription = await client.listen(channel, onNotify, onListen)
    return subscription.unlisten
  }

/** The database the PostgreSQL stores run their queries on. */
export class Db extends Context.Service<Db, Database>()("waypoint/stores/postgres/Db") {
  /**
   * An embedded PGlite database, migrated on open and closed with the layer's scope, and its wake-ups (heard only in
   * this process, the only one that can open it).
   */
  static readonly layerPglite = (options: PgliteOptions = {}): Layer.Layer<Db | Driver | Notifications, StoreError> =>
    Layer.effectContext(
      Effect.gen(function* () {
        const client = yield* openPglite(options)
        const db = drizzlePglite({ client, schema })
        const latest = () =>
          client.query<{ latest: string | null }>(appliedQuery).then((result) => result.rows[0]?.latest)
        if (!(yield* isMigrated(latest))) yield* attemptOnce("migrate", () => migratePglite(db, migrationConfig))
        const notifications = yield* Notifications.make(
          listenPglite(client),
          (channel, payload) => Effect.asVoid(attempt("notify", () => client.query(notifyQuery, [channel, payload]))),
          { afterWrites: false }
        )
        return Context.make(Db, db).pipe(
          Context.add(Driver, Driver.pglite(client)),
          Context.add(Notifications, notifications)
        )
      })
    )

  /**
   * A PostgreSQL server database through a postgres.js pool, migrated on open and closed with the layer's scope, and
   * its wake-ups, heard from every process that uses the database.
   */
  static readonly layerPostgres = (options: PostgresOptions): Layer.Layer<Db | Driver | Notifications, StoreError> =>
    Layer.effectContext(
      Effect.gen(function* () {
        yield* migrateServer(options.url)
        const client = yield* Effect.acquireRelease(connect(options.url, 10), (client) =>
          Effect.ignore(attemptOnce("close", () => client.end({ timeout: closeTimeoutSeconds })))
        )
        // made after the client, so its finalizer (the unsubscribe) runs before the client ends
        const notifications = yield* Notifications.make(
          listenPostgres(client),
          (channel, payload) => Effect.asVoid(attempt("notify", () => client.unsafe(notifyQuery, [channel, payload]))),
          { afterWrites: true }
        )
        return Context.make(Db, drizzlePostgres({ client, schema })).pipe(
          Context.add(Driver, Driver.postgres(client)),
          Context.add(Notifications, notifications)
        )
      })
    )
}
