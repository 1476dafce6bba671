/**
 * `waypoint migrate [--status]`: brings a store's schema up to date (on a server under the stores' advisory lock,
 * so it may run beside opening workers), or says which migrations it lacks, writing nothing.
 */
import { existsSync } from "node:fs"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"
import { json, line } from "../output.ts"
import { jsonFlag, type StoreTarget, storeFlags, target } from "../store.ts"

const describeTarget = (store: StoreTarget) =>
  store._tag === "pglite"
    ? `the PGlite folder ${store.dataDir}`
    : `the database ${new URL(store.url).pathname.slice(1)}`

/** The migrations the store lacks, oldest first (opening it with `migrate: false` names them). */
const missingMigrations = (store: StoreTarget) =>
  Effect.gen(function* () {
    const { PgliteStore, PostgresStore } = yield* Effect.promise(() => import("../../stores/postgres/index.ts"))
    const layer =
      store._tag === "pglite"
        ? PgliteStore.layer({ dataDir: store.dataDir, migrate: false })
        : PostgresStore.layer({ url: store.url, migrate: false })
    return yield* Effect.provide(Effect.succeed<ReadonlyArray<string>>([]), layer).pipe(
      Effect.catchTag("MigrationsMissing", (error) => Effect.succeed(error.missing))
    )
  })

const apply = (store: StoreTarget) =>
  Effect.gen(function* () {
    const { PgliteStore, PostgresStore } = yield* Effect.promise(() => import("../../stores/postgres/index.ts"))
    if (store._tag === "server") return yield* PostgresStore.migrate({ url: store.url })
    yield* Effect.provide(Effect.void, PgliteStore.layer({ dataDir: store.dataDir }))
  })

export const migrate = Command.make(
  "migrate",
  {
    ...storeFlags,
    json: jsonFlag,
    status: Flag.Boolean("status").pipe(
      Flag.withDescription("Only say which migrations the store lacks; change nothing"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("waypoint.migrate")(function* (input) {
    const store = yield* target(input)
    if (input.status) {
      if (store._tag === "pglite" && !existsSync(store.dataDir)) {
        if (input.json) return yield* json({ exists: false, upToDate: false, missing: [] })
        return yield* line(`no store in ${store.dataDir} yet: \`waypoint migrate\` creates it`)
      }
      const missing = yield* missingMigrations(store)
      if (input.json) return yield* json({ exists: true, upToDate: missing.length === 0, missing })
      return yield* line(
        missing.length === 0
          ? `${describeTarget(store)} is up to date`
          : `${describeTarget(store)} lacks ${missing.length} migration(s): ${missing.join(", ")}`
      )
    }
    const before = store._tag === "pglite" && !existsSync(store.dataDir) ? undefined : yield* missingMigrations(store)
    if (before === undefined || before.length > 0) yield* apply(store)
    const applied = before ?? ["all"]
    if (input.json) return yield* json({ applied: before ?? null, upToDate: true })
    yield* line(
      applied.length === 0
        ? `${describeTarget(store)} is up to date`
        : before === undefined
          ? `created ${describeTarget(store)} with every migration`
          : `applied ${applied.length} migration(s) to ${describeTarget(store)}: ${applied.join(", ")}`
    )
  })
).pipe(Command.withDescription("Apply the migrations the store lacks (--status: only list them)"))
