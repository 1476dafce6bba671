/**
 * Builds the prebuilt PGlite data directory that a fresh embedded store starts from (see
 * `src/stores/postgres/internal/prebuiltDataDir.ts`): initdb and every migration run in memory, dumped as a gzipped
 * tar with a manifest naming the PGlite version and the newest migration. Writes into the folder given as argument,
 * by default `src/stores/postgres/prebuilt/`; does nothing when that folder's manifest already matches. Run before
 * the tests (vitest's global setup), before `npm run example` and `example:agents`, and by `npm run build`.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import {
  archiveFile,
  installedPgliteVersion,
  type Manifest,
  manifestFile,
  prebuiltFolder
} from "../src/stores/postgres/internal/prebuiltDataDir.ts"

const folder = process.argv[2] ?? prebuiltFolder
const journal = fileURLToPath(new URL("../src/stores/postgres/migrations/meta/_journal.json", import.meta.url))

const pglite = await installedPgliteVersion()
if (pglite === undefined) throw new Error("@electric-sql/pglite is not installed")
const entries = (JSON.parse(await readFile(journal, "utf8")) as { entries: Array<{ tag: string }> }).entries
const manifest: Manifest = { pglite, migration: entries.at(-1)?.tag ?? "" }

const current = await readFile(join(folder, manifestFile), "utf8").then(
  (text) => JSON.parse(text) as Partial<Manifest>,
  () => undefined
)
if (current?.pglite === manifest.pglite && current.migration === manifest.migration) {
  // Nothing on stdout: `npm pack --json` (which runs this) prints its JSON there
  console.error(`prebuilt PGlite data directory is current (${folder})`)
} else {
  // loaded only here: checking the manifest should cost no more than starting Node
  const { PGlite } = await import("@electric-sql/pglite")
  const { Effect, Layer } = await import("effect")
  const { PgliteStore } = await import("../src/postgres.ts")
  const client = await PGlite.create()
  await Effect.runPromise(Effect.scoped(Layer.build(PgliteStore.layerClient(client))))
  const archive = await client.dumpDataDir("gzip")
  await client.close()
  await mkdir(folder, { recursive: true })
  await writeFile(join(folder, archiveFile), new Uint8Array(await archive.arrayBuffer()))
  await writeFile(join(folder, manifestFile), `${JSON.stringify(manifest, null, 2)}\n`)
  console.error(`prebuilt PGlite data directory written (${folder}, ${archive.size} bytes, PGlite ${pglite})`)
}
