/**
 * The stores in an embedded PostgreSQL (PGlite), kept in a folder or in memory. Committed writes survive a crash of
 * the process; PGlite does not fsync, so a power loss can lose recent writes: use a server for that durability.
 * Needs the packages `drizzle-orm` and `@electric-sql/pglite`, loaded when the layer is built.
 */
import type { PGlite } from "@electric-sql/pglite"
import { Layer } from "effect"
import type { StoreError } from "../errors.ts"
import type { MigrationsMissing } from "./errors.ts"
import * as PgliteDb from "./PgliteDb.ts"
import * as PgStores from "./PgStores.ts"

/** Where PGlite keeps its data, how much of it it holds in memory, and whether to migrate it at open. */
export interface Options {
  /** A folder, created with its parents if missing. Omitted: in memory, gone when the layer closes. */
  readonly dataDir?: string | undefined
  /**
   * PostgreSQL's buffer pool inside PGlite, as PostgreSQL writes sizes (`"64MB"`). Default: 16MB, which opens about
   * twice as fast as PGlite's own 128MB; pages it does not hold are read from the folder's files.
   */
  readonly sharedBuffers?: string | undefined
  /** Apply the migrations the database lacks when the layer is built (default), or fail with `MigrationsMissing`. */
  readonly migrate?: boolean | undefined
  /**
   * A new database (a folder holding none, or in memory) starts from the data directory built with the package,
   * initdb and migrations already run (default), or, with `false`, runs PGlite's initdb: seconds and about 1 GB of
   * memory at the first open. The prebuilt one is used only under the PGlite version that made it.
   */
  readonly prebuilt?: boolean | undefined
}

/** How opening fails: a `StoreError`, or `MigrationsMissing` only with `migrate: false`. */
export type Failure = StoreError | MigrationsMissing

/** Options of a store over a PGlite client of yours. */
export interface ClientOptions {
  /** Apply the migrations the database lacks when the layer is built (default), or fail with `MigrationsMissing`. */
  readonly migrate?: boolean | undefined
}

/**
 * Opens (and migrates) the database when built and closes it with the layer's scope: provide it around the whole
 * program that uses the stores (a runtime made inside `Effect.provide` of it cannot outlive it; its calls then fail
 * with a `StoreError` whose cause is `StoreClosed`). Each layer value is its own store: one provided inside another,
 * or beside it, never shares the other's database.
 *
 * @example
 * const stores = PgliteStore.layer({ dataDir: ".waypoint/data" })
 */
export function layer(options: Options & { readonly migrate: false }): Layer.Layer<PgStores.Stores, Failure>
export function layer(
  options?: Options & { readonly migrate?: true | undefined }
): Layer.Layer<PgStores.Stores, StoreError>
export function layer(options?: Options): Layer.Layer<PgStores.Stores, Failure>
export function layer(options: Options = {}): Layer.Layer<PgStores.Stores, Failure> {
  return Layer.provide(
    PgStores.layer,
    PgliteDb.layer({
      dataDir: options.dataDir,
      sharedBuffers: options.sharedBuffers,
      migrate: options.migrate,
      prebuilt: options.prebuilt
    })
  )
}

/**
 * The stores in a PGlite database you opened: migrated (unless `migrate: false`) when built, and left open when the
 * layer's scope ends: close it yourself, after the layer. Do not give one database to two layers at once.
 *
 * @example
 * const client = await PGlite.create({ dataDir: ".waypoint/data" })
 * const stores = PgliteStore.layerClient(client)
 */
export function layerClient(
  client: PGlite,
  options: ClientOptions & { readonly migrate: false }
): Layer.Layer<PgStores.Stores, Failure>
export function layerClient(
  client: PGlite,
  options?: ClientOptions & { readonly migrate?: true | undefined }
): Layer.Layer<PgStores.Stores, StoreError>
export function layerClient(client: PGlite, options?: ClientOptions): Layer.Layer<PgStores.Stores, Failure>
export function layerClient(client: PGlite, options: ClientOptions = {}): Layer.Layer<PgStores.Stores, Failure> {
  return Layer.provide(PgStores.layer, PgliteDb.layerClient(client, options))
}
