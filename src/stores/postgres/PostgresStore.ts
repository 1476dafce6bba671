/**
 * The stores in a PostgreSQL server, shared by every process that opens the same database: fencing tokens come from
 * one sequence, so a claim in any process outranks every earlier one. Needs the packages `drizzle-orm` and `postgres`
 * (postgres.js 3.4.9 or later, or 4), loaded when the layer is built.
 */
import { type Effect, Layer } from "effect"
import type postgres from "postgres"
import type { StoreError } from "../errors.ts"
import type { MigrationsMissing } from "./errors.ts"
import * as PgStores from "./PgStores.ts"
import * as PostgresDb from "./PostgresDb.ts"

/** postgres.js options the stores pass on (`ssl`, timeouts, `connection` parameters, ...). */
export type ConnectionOptions = PostgresDb.ConnectionOptions

/** Which server database to use, how to connect to it, and whether to migrate it at open. */
export type Options = PostgresDb.PostgresOptions

/** How opening fails: a `StoreError`, or `MigrationsMissing` only with `migrate: false`. */
export type Failure = StoreError | MigrationsMissing

/** Options of a store over a postgres.js client of yours. */
export interface ClientOptions {
  /** Apply the migrations the database lacks when the layer is built (default), or fail with `MigrationsMissing`. */
  readonly migrate?: boolean | undefined
}

/**
 * Connects (and migrates, one process at a time, unless `migrate: false`) when built, and ends its connections
 * with the layer's scope: provide it around the whole program that uses the stores (a runtime made inside
 * `Effect.provide` of it cannot outlive it; its calls then fail with a `StoreError` whose cause is `StoreClosed`).
 * Each layer value is its own store: one provided inside another, or beside it, never shares the other's database.
 *
 * @example
 * const stores = PostgresStore.layer({
 *   url: process.env.DATABASE_URL ?? "postgres://localhost/app",
 *   maxConnections: 20,
 *   connection: { ssl: "require", connect_timeout: 10 }
 * })
 */
export function layer(options: Options & { readonly migrate: false }): Layer.Layer<PgStores.Stores, Failure>
export function layer(
  options: Options & { readonly migrate?: true | undefined }
): Layer.Layer<PgStores.Stores, StoreError>
export function layer(options: Options): Layer.Layer<PgStores.Stores, Failure>
export function layer(options: Options): Layer.Layer<PgStores.Stores, Failure> {
  return Layer.provide(PgStores.layer, PostgresDb.layer(options))
}

/**
 * The stores over a postgres.js client you made: migrated (unless `migrate: false`) when built, and left open when
 * the layer's scope ends: `end()` it yourself, after the layer. The stores wrap it in drizzle, which changes how the
 * client reads json, jsonb and timestamps for every user of it (as text); give the stores a client of their own. With
 * postgres.js 3.x, make it with `fetch_types: false`: with it on, a connection lost while it starts ends the process
 * (postgres.js drops the promise of the query it sends then).
 *
 * @example
 * const sql = postgres(url, { max: 20, fetch_types: false })
 * const stores = PostgresStore.layerClient(sql)
 */
export function layerClient(
  client: postgres.Sql,
  options: ClientOptions & { readonly migrate: false }
): Layer.Layer<PgStores.Stores, Failure>
export function layerClient(
  client: postgres.Sql,
  options?: ClientOptions & { readonly migrate?: true | undefined }
): Layer.Layer<PgStores.Stores, StoreError>
export function layerClient(client: postgres.Sql, options?: ClientOptions): Layer.Layer<PgStores.Stores, Failure>
export function layerClient(client: postgres.Sql, options: ClientOptions = {}): Layer.Layer<PgStores.Stores, Failure> {
  return Layer.provide(PgStores.layer, PostgresDb.layerClient(client, options))
}

/**
 * Applies the migrations the database lacks, on a connection of its own (closed after), under the same lock as an
 * opening store: for a deployment that migrates once, apart from its workers, which then open with `migrate: false`.
 *
 * @example
 * await Effect.runPromise(PostgresStore.migrate({ url: process.env.DATABASE_URL! }))
 */
export const migrate = (options: {
  readonly url: string
  readonly connection?: ConnectionOptions | undefined
}): Effect.Effect<void, StoreError> => PostgresDb.migrate(options)
