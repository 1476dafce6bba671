/**
 * The stores in an embedded PostgreSQL (PGlite), kept in a folder or in memory. Committed writes survive a crash of
 * the process; PGlite does not fsync, so a power loss can lose recent writes: use a server for that durability.
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

/** Where PGlite keeps its data, and how much of it it holds in memory. */
export interface Options {
  /** A folder, created with its parents if missing. Omitted: in memory, gone when the layer closes. */
  readonly dataDir?: string | undefined
  /**
   * PostgreSQL's buffer pool inside PGlite, as PostgreSQL writes sizes (`"64MB"`). Default: 16MB, which opens about
   * twice as fast as PGlite's own 128MB; pages it does not hold are read from the folder's files.
   */
  readonly sharedBuffers?: string | undefined
}

/**
 * Opens (and migrates) the database when built and closes it with the layer's scope.
 *
 * @example
 * const stores = PgliteStore.layer({ dataDir: ".waypoint/data" })
 */
export const layer = (
  options: Options = {}
): Layer.Layer<TaskStore | StateStore | StepStore | SnapshotStore | ProgressStore | StorageBackend, StoreError> =>
  Layer.provide(PgStores.layer, Db.layerPglite({ dataDir: options.dataDir, sharedBuffers: options.sharedBuffers }))
