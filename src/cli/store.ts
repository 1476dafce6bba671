/**
 * Which store a command opens, and opening it: `--data-dir` (an embedded PGlite folder), `--database-url` or
 * `DATABASE_URL` (a PostgreSQL server). The store's modules (drizzle, the drivers) and the runtime are imported when
 * a command opens them, never before: `waypoint --help` loads none of them.
 */
import { existsSync } from "node:fs"
import process from "node:process"
import { Effect, Option, type Scope } from "effect"
import { Flag } from "effect/cli"
import type { Runtime } from "../runtime/Runtime.ts"
import type { StoreError } from "../stores/errors.ts"
import type { Stores } from "../stores/postgres/PgStores.ts"
import type { TaskStore } from "../stores/TaskStore.ts"
import { CommandFailed, UsageError } from "./errors.ts"

/** The flags that choose the store, shared by every command that opens one. */
export const storeFlags = {
  dataDir: Flag.String("data-dir").pipe(
    Flag.withDescription("Folder of an embedded PGlite store (one process at a time)"),
    Flag.optional
  ),
  databaseUrl: Flag.String("database-url").pipe(
    Flag.withDescription("PostgreSQL server URL (default: the DATABASE_URL environment variable)"),
    Flag.optional
  )
}

/** The `--json` flag of a command that prints data. */
export const jsonFlag = Flag.Boolean("json").pipe(
  Flag.withDescription("Print JSON (the HTTP API's shapes) instead of text"),
  Flag.withDefault(false)
)

/** What `storeFlags` parsed to. */
export interface StoreChoice {
  readonly dataDir: Option.Option<string>
  readonly databaseUrl: Option.Option<string>
}

/** A store the flags named: a PGlite folder or a server. */
export type StoreTarget =
  | { readonly _tag: "pglite"; readonly dataDir: string }
  | { readonly _tag: "server"; readonly url: string }

/** The store the flags (or `DATABASE_URL`) name; `UsageError` for none, or for both kinds at once. */
export const target = (choice: StoreChoice): Effect.Effect<StoreTarget, UsageError> => {
  if (Option.isSome(choice.dataDir) && Option.isSome(choice.databaseUrl)) {
    return Effect.fail(new UsageError({ reason: "give --data-dir or --database-url, not both" }))
  }
  if (Option.isSome(choice.dataDir)) return Effect.succeed({ _tag: "pglite", dataDir: choice.dataDir.value })
  const url = Option.orElse(choice.databaseUrl, () => Option.fromUndefinedOr(process.env.DATABASE_URL || undefined))
  if (Option.isSome(url)) return Effect.succeed({ _tag: "server", url: url.value })
  return Effect.fail(
    new UsageError({ reason: "no store: pass --data-dir <folder> or --database-url <url>, or set DATABASE_URL" })
  )
}

/** How a command opens the store: `migrate` applies missing migrations; otherwise they fail the command. */
export interface OpenOptions {
  readonly migrate: boolean
}

/**
 * Provides every store of the target to `use`, opened for its duration. Without `migrate`, a folder that holds no
 * store yet, or a database that lacks migrations, fails with a `CommandFailed` that says to run `waypoint migrate`
 * (a read must not create a store, nor change a database's schema behind its application's back).
 */
export const withStores = <A, E, R>(
  store: StoreTarget,
  options: OpenOptions,
  use: Effect.Effect<A, E, R>
): Effect.Effect<A, E | CommandFailed | StoreError, Exclude<R, Stores>> =>
  Effect.flatMap(
    Effect.promise(() => import("../stores/postgres/index.ts")),
    ({ MigrationsMissing, PgliteStore, PostgresStore }) => {
      if (store._tag === "pglite" && !options.migrate && !existsSync(store.dataDir)) {
        return Effect.fail(
          new CommandFailed({
            reason: `no store in ${store.dataDir}: create it with \`waypoint migrate --data-dir ${store.dataDir}\``
          })
        )
      }
      const layer =
        store._tag === "pglite"
          ? PgliteStore.layer({ dataDir: store.dataDir, migrate: options.migrate })
          : PostgresStore.layer({ url: store.url, migrate: options.migrate })
      return Effect.mapError(Effect.provide(use, layer), (error) =>
        error instanceof MigrationsMissing
          ? new CommandFailed({
              reason: `the store lacks ${error.missing.length} migration(s) of this version (${error.missing.join(", ")}): run \`waypoint migrate\` first`
            })
          : (error as E | StoreError)
      )
    }
  )

/** The runtime `withRuntime` gives: it runs no task of its own. */
export type CliRuntime = Runtime<never>

/** A runtime over the stores in context that runs nothing of its own: it reads, inspects and steers tasks. */
export const withRuntime = <A, E, R>(
  use: (runtime: CliRuntime) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Scope.Scope> | TaskStore> =>
  Effect.scoped(
    Effect.flatMap(
      Effect.promise(() => import("../runtime/Runtime.ts")),
      (Runtime) => Effect.flatMap(Runtime.make(), use)
    )
  )
