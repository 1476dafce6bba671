/** The PostgreSQL stores: embedded (`PgliteStore`) or on a server (`PostgresStore`), from the same queries. */
export { DataDirInUse, DriverNotInstalled, MigrationsMissing, StoreClosed } from "./errors.ts"
export * as PgliteStore from "./PgliteStore.ts"
export * as PostgresStore from "./PostgresStore.ts"
