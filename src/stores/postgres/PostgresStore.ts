/**
 * The stores in a PostgreSQL server, shared by every process that opens the same database: fencing tokens come from
 * one sequence, so a claim in any process outranks every earlier one.
 */
import { Layer } from "effect"
import type { StoreError } from "../errors.ts"
import type { ProgressStore } from "../ProgressStore.ts"
import type { SnapshotStore } from "../SnapshotStore.ts"
import type { StateStore } from "../StateStore.ts"
import type { StepStore } from "../StepStore.ts"
import type { StorageBackend } from "../StorageBackend.ts"
import type { TaskStore } from "../TaskStore.ts"
import { Db } from "./Database.ts"
import * as PgStores from "./PgStores.ts"

/** Which server database to use. */
export interface Options {
  /** A connection string, e.g. `postgres://user:password@host:5432/db`. */
  readonly url: string
}

/**
 * Connects (and migrates, one process at a time) when built and closes the connections with the layer's scope.
 *
 * @example
 * const stores = PostgresStore.layer({ url: process.env.DATABASE_URL ?? "postgres://localhost/app" })
 */
export const layer = (
  options: Options
): Layer.Layer<TaskStore | StateStore | StepStore | SnapshotStore | ProgressStore | StorageBackend, StoreError> =>
  Layer.provide(PgStores.layer, Db.layerPostgres({ url: options.url }))
