/** Versioned data: a Schema with a version number and migrations from every older version. */
export { InvalidVersionedData, MigrationFailed, UnknownDataVersion } from "./errors.ts"
export * as Versioned from "./Versioned.ts"
