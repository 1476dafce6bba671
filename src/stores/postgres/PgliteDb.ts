/**
 * The `Db` on an embedded PGlite database (in a folder, or in memory), with its `Driver` and its `Notifications`
 * (heard only in this process, the only one that can open it). PGlite and its drizzle adapter load when the layer is
 * built. A database this layer opens is closed with its scope; a client given to it is its owner's to close.
 */
import { mkdir } from "node:fs/promises"
import type { PGlite } from "@electric-sql/pglite"
import { Context, Effect, Layer } from "effect"
import type { StoreError } from "../errors.ts"
import { Db } from "./Db.ts"
import { Driver } from "./Driver.ts"
import type { OpenError } from "./errors.ts"
import { attempt, attemptOnce } from "./internal/attempt.ts"
import { lockDataDir } from "./internal/dataDirLock.ts"
import { loadLazy } from "./internal/drizzle.ts"
import { loadDriver } from "./internal/loadDriver.ts"
import { appliedQuery, migrated, migrationConfig } from "./internal/migrations.ts"
import { type PgliteModule, runPglite } from "./internal/pgliteRun.ts"
import { holdsDatabase, openFresh, prebuiltArchive } from "./internal/prebuiltDataDir.ts"
import { type Listen, Notifications, notifyQuery } from "./Notifications.ts"
import * as schema from "./schema.ts"

/** Options of the embedded PGlite database. */
export interface PgliteOptions {
  /** The folder holding the data, created with its parents if missing. Omitted: in memory, gone on close. */
  readonly dataDir?: string | undefined
  /**
   * Starts from a data directory dumped with `PGlite.dumpDataDir()` instead of running initdb (seconds faster).
   * Tests use it to start each store from one migrated template.
   */
  readonly loadDataDir?: Blob | undefined
  /**
   * The size of PostgreSQL's buffer pool inside PGlite, as PostgreSQL writes sizes (`"64MB"`). Default: 16MB.
   * PGlite's own default, 128MB, makes every open take about twice as long (about 120 against 65 ms here): a
   * restarted worker resumes its tasks that much later. Pages the pool does not hold are read from the folder's
   * files (through the operating system's cache): raise it for a working set of hundreds of megabytes.
   */
  readonly sharedBuffers?: string | undefined
  /** Whether to apply missing migrations at open (default), or fail with `MigrationsMissing`. */
  readonly migrate?: boolean | undefined
  /**
   * Whether a database opened fresh (a folder without one, or in memory) starts from the data directory built with
   * the package (default) or runs initdb. See `internal/prebuiltDataDir.ts`.
   */
  readonly prebuilt?: boolean | undefined
}

/** What the layer provides: the stores' database, their driver and their wake-ups. */
export type Provided = Db | Driver | Notifications

const loadPglite = loadDriver("@electric-sql/pglite", () => loadLazy("@electric-sql/pglite"))

const open = (module: PgliteModule, options: PgliteOptions) =>
  Effect.gen(function* () {
    const dataDir = options.dataDir
    // PGlite does not create missing parent folders
    if (dataDir !== undefined) {
      yield* attemptOnce("open", () => mkdir(dataDir, { recursive: true }))
      yield* lockDataDir(dataDir)
    }
    const create = (loadDataDir?: Blob) =>
      module.PGlite.create({
        ...(dataDir === undefined ? {} : { dataDir }),
        ...(loadDataDir === undefined ? {} : { loadDataDir }),
        startParams: [...module.PGlite.defaultStartParams, "-c", `shared_buffers=${options.sharedBuffers ?? "16MB"}`]
      })
    const given = options.loadDataDir
    const archive = given === undefined && options.prebuilt !== false ? yield* prebuilt(dataDir) : undefined
    return yield* Effect.acquireRelease(
      attemptOnce("open", () => (given === undefined ? openFresh(dataDir, archive, create) : create(given))),
      (client) => Effect.ignore(attemptOnce("close", () => client.close()))
    )
  })

/** The prebuilt data directory, for a database not made yet (a folder holding none, or in memory); else nothing. */
const prebuilt = (dataDir: string | undefined): Effect.Effect<Uint8Array | undefined, StoreError> =>
  attemptOnce("open", async () =>
    dataDir !== undefined && (await holdsDatabase(dataDir)) ? undefined : await prebuiltArchive()
  )

/** PGlite delivers a session's own notifications to it: the store hears what its own process writes. */
const listenPglite =
  (client: PGlite): Listen =>
  async (channel, onNotify, onListen) => {
    const unlisten = await client.listen(channel, onNotify)
    onListen()
    return unlisten
  }

/** Migrates (or, with `migrate: false`, checks) the database, then builds what the stores run on. */
const over = (client: PGlite, module: PgliteModule, migrate: boolean) =>
  Effect.gen(function* () {
    const { drizzle } = yield* loadDriver("drizzle-orm", () => loadLazy("drizzle-orm/pglite"))
    const db = drizzle({ client, schema })
    const latest = () => client.query<{ latest: string | null }>(appliedQuery).then((result) => result.rows[0]?.latest)
    const apply = Effect.flatMap(
      loadDriver("drizzle-orm", () => loadLazy("drizzle-orm/pglite/migrator")),
      (migrator) => attemptOnce("migrate", () => migrator.migrate(db, migrationConfig))
    )
    yield* migrated(latest, migrate, apply)
    const notifications = yield* Notifications.make(
      listenPglite(client),
      (channel, payload) => Effect.asVoid(attempt("notify", () => client.query(notifyQuery, [channel, payload]))),
      { afterWrites: false }
    )
    return Context.make(Db, db).pipe(
      Context.add(Driver, Driver.make(runPglite(client, module))),
      Context.add(Notifications, notifications)
    )
  })

/** A PGlite database opened (and migrated) when built, and closed with the layer's scope. */
export const layer = <const O extends PgliteOptions = { readonly migrate?: undefined }>(
  options: O = {} as O
): Layer.Layer<Provided, OpenError<O>> =>
  // `over` fails with MigrationsMissing only when told not to migrate, which `OpenError<O>` says
  Layer.effectContext(
    Effect.gen(function* () {
      const module = yield* loadPglite
      const client = yield* open(module, options)
      return yield* over(client, module, options.migrate ?? true)
    })
  ) as Layer.Layer<Provided, OpenError<O>>

/** A PGlite client its owner opened and will close; migrated (or checked) when built, left open by the layer. */
export const layerClient = <
  const O extends { readonly migrate?: boolean | undefined } = { readonly migrate?: undefined }
>(
  client: PGlite,
  options: O = {} as O
): Layer.Layer<Provided, OpenError<O>> =>
  // `over` fails with MigrationsMissing only when told not to migrate, which `OpenError<O>` says
  Layer.effectContext(
    Effect.flatMap(loadPglite, (module) => over(client, module, options.migrate ?? true))
  ) as Layer.Layer<Provided, OpenError<O>>
