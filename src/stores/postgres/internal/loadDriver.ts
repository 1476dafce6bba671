/**
 * Loads a driver package when a store that needs it is built, never when `effect-waypoint/postgres` is imported: a
 * server-only program runs without PGlite installed, an embedded-only one without postgres.js.
 */
import { Effect, Predicate } from "effect"
import { StoreError } from "../../errors.ts"
import { DriverNotInstalled } from "../errors.ts"

// Node's codes for a specifier it cannot resolve (ESM, then CommonJS).
const isNotFound = (cause: unknown): boolean =>
  Predicate.hasProperty(cause, "code") && (cause.code === "ERR_MODULE_NOT_FOUND" || cause.code === "MODULE_NOT_FOUND")

/**
 * Runs `load` (a dynamic `import()` of `packageName`, written out so that bundlers see it). A package that cannot be
 * resolved fails with a `StoreError` whose cause, `DriverNotInstalled`, names the package to install.
 */
export const loadDriver = <A>(packageName: string, load: () => Promise<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({
    try: load,
    catch: (cause) =>
      new StoreError({
        operation: "open",
        cause: isNotFound(cause) ? new DriverNotInstalled({ packageName, cause }) : cause
      })
  })
