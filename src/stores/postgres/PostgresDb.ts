/**
 * The `Db` on a PostgreSQL server through a postgres.js pool, with its `Driver` and its `Notifications` (heard from
 * every process that uses the database). postgres.js and its drizzle adapter load when the layer is built. A pool
 * this layer opens is ended with its scope; a client given to it is its owner's to end.
 */

import { Context, Effect, Layer } from "effect"
import type postgres from "postgres"
import { StoreError } from "../errors.ts"
import { Db } from "./Db.ts"
import { Driver } from "./Driver.ts"
import type { OpenError } from "./errors.ts"
import { attempt, attemptOnce } from "./internal/attempt.ts"
import { loadLazy } from "./internal/drizzle.ts"
import { loadDriver } from "./internal/loadDriver.ts"
import { latestOnServer, migrated, migrateIfBehind, migrateServer } from "./internal/migrations.ts"
import { runPostgres } from "./internal/postgresRun.ts"
import { type Listen, Notifications, notifyQuery } from "./Notifications.ts"
import * as schema from "./schema.ts"

/**
 * postgres.js options (`ssl`, `connect_timeout`, `idle_timeout`, `connection: { application_name }`, ...), as
 * `postgres(url, options)` takes them. Not `max` (`maxConnections` says it), nor what the stores rely on:
 * `fetch_types` (always off: postgres.js 3.4 drops the promise of the query it sends on each new connection, and a
 * connection lost during it ended the process), `types` and `transform` (rows are read as the server sends them),
 * `target_session_attrs` (postgres.js 3.4 drops the promise of its query too).
 */
export type ConnectionOptions = Omit<
  postgres.Options<Record<string, postgres.PostgresType>>,
  "max" | "fetch_types" | "types" | "transform" | "target_session_attrs"
>

/** Which server database to use, and how. */
export interface PostgresOptions {
  /** A connection string, e.g. `postgres://user:password@host:5432/db`. */
  readonly url: string
  /** The most connections the pool opens at once; default 10. Wake-ups listen on one more, outside the pool. */
  readonly maxConnections?: number | undefined
  /** Further postgres.js options (`ssl`, timeouts, `connection` parameters); see `ConnectionOptions`. */
  readonly connection?: ConnectionOptions | undefined
  /**
   * Whether to apply missing migrations at open (default), under a lock so that processes take turns; `false` fails
   * with `MigrationsMissing` instead, for a deployment that runs them apart (`PostgresStore.migrate`).
   */
  readonly migrate?: boolean | undefined
}

/** What the layer provides: the stores' database, their driver and their wake-ups. */
export type Provided = Db | Driver | Notifications

// postgres.js 3 is CommonJS-style (`export =`): required, the module is the client function; postgres.js 4 required
// is a namespace whose `default` is.
const loadPostgres = loadDriver("postgres", () =>
  loadLazy("postgres").then(
    (module: unknown): typeof postgres =>
      (typeof module === "function"
        ? module
        : (module as { readonly default: typeof postgres }).default) as typeof postgres
  )
)

// How long closing waits for queries still running before it cuts the connections.
const closeTimeoutSeconds = 5

// Notices (e.g. "schema already exists, skipping") are not errors: keep them off stdout, unless told otherwise.
const connect = (makeClient: typeof postgres, url: string, max: number, connection: ConnectionOptions = {}) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => makeClient(url, { onnotice: () => {}, ...connection, max, fetch_types: false }),
      catch: (cause) => new StoreError({ operation: "open", cause })
    }),
    (client) => Effect.ignore(attemptOnce("close", () => client.end({ timeout: closeTimeoutSeconds })))
  )

/** Runs the migrations a server database lacks, on a connection of its own, closed after. */
export const migrate = (options: {
  readonly url: string
  readonly connection?: ConnectionOptions | undefined
}): Effect.Effect<void, StoreError> =>
  Effect.scoped(
    Effect.flatMap(loadPostgres, (makeClient) =>
      Effect.flatMap(connect(makeClient, options.url, 1, options.connection), (client) =>
        migrateIfBehind(latestOnServer(client), migrateServer(client))
      )
    )
  )

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

/** Migrates (or, with `migrate: false`, checks) the database, then builds what the stores run on. */
const over = (client: postgres.Sql, migrate: boolean) =>
  Effect.gen(function* () {
    const { drizzle } = yield* loadDriver("drizzle-orm", () => loadLazy("drizzle-orm/postgres-js"))
    yield* migrated(latestOnServer(client), migrate, migrateServer(client))
    // made after the client, so its finalizer (the unsubscribe) runs before the client ends
    const notifications = yield* Notifications.make(
      listenPostgres(client),
      (channel, payload) => Effect.asVoid(attempt("notify", () => client.unsafe(notifyQuery, [channel, payload]))),
      { afterWrites: true }
    )
    return Context.make(Db, drizzle({ client, schema })).pipe(
      Context.add(Driver, Driver.make(runPostgres(client, client.options.prepare !== false))),
      Context.add(Notifications, notifications)
    )
  })

/**
 * What is wrong with options a program may have built at run time (JavaScript, or values from configuration): a pool
 * of no connection would wait for ever, and without a URL postgres.js connects to its defaults, somewhere else.
 */
const optionsProblem = (options: PostgresOptions): string | undefined => {
  if (typeof options.url !== "string" || options.url === "") return "url must be a connection string"
  const max = options.maxConnections
  if (max !== undefined && !(Number.isSafeInteger(max) && max >= 1)) {
    return `maxConnections must be a whole number from 1, got ${String(max)}`
  }
  return undefined
}

/** A postgres.js pool opened (and the database migrated) when built, and ended with the layer's scope. */
export const layer = <const O extends PostgresOptions>(options: O): Layer.Layer<Provided, OpenError<O>> =>
  // `over` fails with MigrationsMissing only when told not to migrate, which `OpenError<O>` says
  Layer.effectContext(
    Effect.gen(function* () {
      const problem = optionsProblem(options)
      if (problem !== undefined) {
        return yield* new StoreError({ operation: "open", cause: new Error(`PostgresStore.layer: ${problem}`) })
      }
      const makeClient = yield* loadPostgres
      const client = yield* connect(makeClient, options.url, options.maxConnections ?? 10, options.connection)
      return yield* over(client, options.migrate ?? true)
    })
  ) as Layer.Layer<Provided, OpenError<O>>

/** A postgres.js client its owner made and will end; the database is migrated (or checked) when built. */
export const layerClient = <
  const O extends { readonly migrate?: boolean | undefined } = { readonly migrate?: undefined }
>(
  client: postgres.Sql,
  options: O = {} as O
): Layer.Layer<Provided, OpenError<O>> =>
  // `over` fails with MigrationsMissing only when told not to migrate, which `OpenError<O>` says
  Layer.effectContext(Effect.flatMap(loadPostgres, () => over(client, options.migrate ?? true))) as Layer.Layer<
    Provided,
    OpenError<O>
  >
