/**
 * The data directory built with the package: initdb and the migrations already run, dumped by
 * `scripts/pgliteTemplate.ts` into `prebuilt/` beside the stores (in `src/` and in `dist/`). A fresh folder starts
 * from it instead of running initdb, which is most of PGlite's first open: here 4.9 s and 1.1 GB of peak memory
 * against about 0.1 s to write these files. A data directory belongs to one PostgreSQL build: it is tried under the
 * releases of the PGlite series that made it (0.5.x), and should PostgreSQL refuse it, what was written of it is
 * removed and PGlite runs initdb as before. Under another series it is not tried.
 */
import { access, readFile, rm } from "node:fs/promises"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { gunzip } from "node:zlib"
import { untar } from "./untar.ts"

/** Where the archive and its manifest are, beside the stores' modules. */
export const prebuiltFolder = fileURLToPath(new URL("../prebuilt/", import.meta.url))
export const archiveFile = "pgdata.tar.gz"
export const manifestFile = "pgdata.json"

/** What made the archive: the PGlite version (the data directory's format) and the newest migration in it. */
export interface Manifest {
  readonly pglite: string
  readonly migration: string
}

/** The installed PGlite's version, read from its package.json (its `exports` do not expose it); undefined if none. */
export const installedPgliteVersion = async (): Promise<string | undefined> => {
  try {
    let folder = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"))
    for (let depth = 0; depth < 4; depth++, folder = dirname(folder)) {
      const found = await readFile(join(folder, "package.json"), "utf8").then(
        (text) => JSON.parse(text) as { readonly name?: unknown; readonly version?: unknown },
        () => undefined
      )
      if (found?.name === "@electric-sql/pglite" && typeof found.version === "string") return found.version
    }
    return undefined
  } catch {
    return undefined
  }
}

/** A version's series: its major and minor numbers ("0.5" of "0.5.17"). */
const seriesOf = (version: string): string => version.split(".").slice(0, 2).join(".")

/**
 * The archive, uncompressed, when it exists and was made by a PGlite of the installed one's series; undefined
 * otherwise (then the caller runs initdb). Reading it never fails the open: a missing or unreadable archive only
 * costs the slow path.
 */
export const prebuiltArchive = async (folder: string = prebuiltFolder): Promise<Uint8Array | undefined> => {
  try {
    const manifest = JSON.parse(await readFile(join(folder, manifestFile), "utf8")) as Partial<Manifest>
    const installed = await installedPgliteVersion()
    if (manifest.pglite === undefined || installed === undefined) return undefined
    if (seriesOf(manifest.pglite) !== seriesOf(installed)) return undefined
    return await promisify(gunzip)(await readFile(join(folder, archiveFile)))
  } catch {
    return undefined
  }
}

/** Whether `dataDir` already holds a database (PostgreSQL writes `PG_VERSION` into every data directory). */
export const holdsDatabase = (dataDir: string): Promise<boolean> =>
  access(join(dataDir, "PG_VERSION")).then(
    () => true,
    () => false
  )

/**
 * Writes `archive` into the fresh folder `dataDir`, `PG_VERSION` last: until that file exists the folder is not a
 * database, so an extraction cut short (a crash, a full disk) is started again by the next open. The lock file of
 * the process that made the archive is left out.
 */
export const extractInto = (archive: Uint8Array, dataDir: string): Promise<ReadonlyArray<string>> =>
  untar(archive, dataDir, { skip: new Set(["postmaster.pid"]), last: new Set(["PG_VERSION"]) })

/**
 * Opens a database with `create` (given a data directory to load, or none to run initdb): from `archive` when the
 * database is new, written into `dataDir` or, in memory, loaded by PGlite. Should PostgreSQL refuse it (a release of
 * the series whose build differs), the entries written are removed and `create` runs initdb.
 */
export const openFresh = async <C>(
  dataDir: string | undefined,
  archive: Uint8Array | undefined,
  create: (loadDataDir?: Blob) => Promise<C>
): Promise<C> => {
  if (archive === undefined) return create()
  if (dataDir === undefined) return create(new Blob([archive])).catch(() => create())
  const written = await extractInto(archive, dataDir)
  try {
    return await create()
  } catch {
    const top = new Set(written.map((name) => name.split("/")[0] ?? name))
    await Promise.all([...top].map((name) => rm(join(dataDir, name), { recursive: true, force: true })))
    return create()
  }
}
