/**
 * Errors of the PostgreSQL stores' layers. `MigrationsMissing` fails a layer that was told not to migrate; the others
 * are the `cause` of a `StoreError` (the one error every store contract declares), and say what to do.
 */
import { Schema } from "effect"
import type { StoreError } from "../errors.ts"

export { StoreClosed } from "../errors.ts"

/**
 * The database lacks migrations this version of the stores needs, and the layer was opened with `migrate: false`.
 * Nothing was written: run them (`PostgresStore.migrate`, or open once with `migrate: true`), then open again.
 */
export class MigrationsMissing extends Schema.TaggedError<MigrationsMissing>()("MigrationsMissing", {
  /** drizzle-kit's tags of the missing migrations, oldest first (`0005_pause_requested`). */
  missing: Schema.Array(Schema.String)
}) {
  override get message() {
    return `the database lacks the store's migrations ${this.missing.join(", ")}: run them first (PostgresStore.migrate, or open once with migrate: true)`
  }
}

/** How opening a store with options `O` can fail: `MigrationsMissing` only where `migrate` may be false. */
export type OpenError<O> = O extends { readonly migrate?: infer M }
  ? false extends M
    ? StoreError | MigrationsMissing
    : StoreError
  : StoreError

/** A store's driver package is not installed; the cause of the `StoreError` its layer fails to open with. */
export class DriverNotInstalled extends Schema.TaggedError<DriverNotInstalled>()("DriverNotInstalled", {
  /** The package to install, e.g. `@electric-sql/pglite`. */
  packageName: Schema.String,
  cause: Schema.Defect()
}) {
  override get message() {
    return `this store needs the package "${this.packageName}": install it (npm install ${this.packageName})`
  }
}

/**
 * A PGlite folder is open in another live process: PGlite is a database for one process, and a second one writing
 * the same files would lose writes. The cause of the `StoreError` its layer fails to open with.
 */
export class DataDirInUse extends Schema.TaggedError<DataDirInUse>()("DataDirInUse", {
  dataDir: Schema.String,
  pid: Schema.Number,
  host: Schema.String
}) {
  override get message() {
    return `the PGlite folder ${this.dataDir} is open in process ${this.pid} on ${this.host}: a PGlite folder is for one process at a time (stop that one, or use a PostgreSQL server for several); if no such process runs, delete ${this.dataDir}/waypoint.lock`
  }
}
