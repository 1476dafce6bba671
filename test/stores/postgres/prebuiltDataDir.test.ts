/**
 * A fresh PGlite database starts from the data directory built with the package instead of running initdb. Whether
 * it did is read from PostgreSQL's system identifier, which initdb draws at random: every database started from the
 * archive has the archive's own, a database made by initdb another.
 */
import { access, mkdir, readdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { Context, Effect, Layer, Schema } from "effect"
import { Runtime, task } from "../../../src/index.ts"
import { PgliteStore } from "../../../src/postgres.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { sql } from "../../../src/stores/postgres/internal/drizzle.ts"
import {
  archiveFile,
  extractInto,
  installedPgliteVersion,
  manifestFile,
  openFresh,
  prebuiltArchive
} from "../../../src/stores/postgres/internal/prebuiltDataDir.ts"
import { untar } from "../../../src/stores/postgres/internal/untar.ts"
import * as PgliteDb from "../../../src/stores/postgres/PgliteDb.ts"
import { tempDir } from "./pgliteTemplate.ts"

const archive = await prebuiltArchive()

/** Where the body of the archive's PG_VERSION starts. */
const pgVersionBody = (bytes: Uint8Array): number => {
  const text = (from: number, length: number) =>
    new TextDecoder().decode(bytes.subarray(from, from + length)).replace(/\0[\s\S]*$/, "")
  for (let at = 0; at + 512 <= bytes.length; ) {
    const name = text(at, 100)
    if (name === "") break
    if (name.replace(/^\/+/, "") === "PG_VERSION") return at + 512
    at += 512 + Math.ceil(Number.parseInt(text(at + 124, 12).trim() || "0", 8) / 512) * 512
  }
  throw new Error("no PG_VERSION in the archive")
}

/** The system identifier and the number of applied migrations of the database `options` opens. */
const identify = (options: PgliteDb.PgliteOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const db = Context.get(yield* Layer.build(PgliteDb.layer(options)), Db)
      const rows = yield* execute(
        db,
        "read",
        sql`select (select system_identifier::text from pg_control_system()) as id,
                   (select count(*)::int from drizzle.__waypoint_migrations) as migrations`
      )
      return { id: String(rows[0]?.id), migrations: Number(rows[0]?.migrations) }
    })
  )

/** The identifier of the archive's own database, loaded in memory by PGlite itself. */
const archiveIdentifier = Effect.promise(async () => {
  if (archive === undefined) throw new Error("no prebuilt archive: run node scripts/pgliteTemplate.ts")
  const client = await PGlite.create({ loadDataDir: new Blob([archive]) })
  const result = await client.query<{ id: string }>("select system_identifier::text as id from pg_control_system()")
  await client.close()
  return result.rows[0]?.id ?? ""
})

describe("PGlite's prebuilt data directory", () => {
  it.live("exists for the installed PGlite (npm install and the build make it)", () =>
    Effect.gen(function* () {
      assert.isDefined(archive)
      const manifest = JSON.parse(
        yield* Effect.promise(() =>
          readFile(new URL(`../../../src/stores/postgres/prebuilt/${manifestFile}`, import.meta.url), "utf8")
        )
      )
      assert.strictEqual(manifest.pglite, yield* Effect.promise(installedPgliteVersion))
    })
  )

  it.live("starts a fresh folder and an in-memory database from it, migrated; prebuilt: false runs initdb", () =>
    Effect.gen(function* () {
      const own = yield* archiveIdentifier
      const first = yield* identify({ dataDir: join(yield* tempDir, "a") })
      const second = yield* identify({ dataDir: join(yield* tempDir, "nested", "b") })
      const memory = yield* identify({})
      const initdb = yield* identify({ dataDir: yield* tempDir, prebuilt: false })
      assert.strictEqual(first.id, own)
      assert.strictEqual(second.id, own)
      assert.strictEqual(memory.id, own)
      assert.notStrictEqual(initdb.id, own)
      assert.isAbove(first.migrations, 0)
      assert.strictEqual(first.migrations, initdb.migrations)
    })
  )

  it.live("never writes over a folder that holds a database: its tasks are still there", () =>
    Effect.gen(function* () {
      const dataDir = yield* tempDir
      const echo = task({ name: "echo", input: Schema.String, output: Schema.String }, (text) => Effect.succeed(text))
      const run = (input: string) =>
        Effect.gen(function* () {
          const runtime = yield* Runtime.make()
          yield* runtime.run(echo, input)
          return (yield* runtime.list({ name: "echo" })).items.length
        }).pipe(Effect.scoped, Effect.provide(PgliteStore.layer({ dataDir })))
      assert.strictEqual(yield* run("one"), 1)
      assert.strictEqual(yield* run("two"), 2)
    })
  )

  it.live("is tried under another release of its PGlite series, not under another series, nor when missing", () =>
    Effect.gen(function* () {
      const folder = yield* tempDir
      assert.isUndefined(yield* Effect.promise(() => prebuiltArchive(folder)))
      const source = new URL("../../../src/stores/postgres/prebuilt/", import.meta.url)
      const installed = (yield* Effect.promise(installedPgliteVersion)) ?? ""
      const [major, minor] = installed.split(".")
      const madeBy = (pglite: string) =>
        Effect.promise(async () => {
          await writeFile(join(folder, archiveFile), await readFile(new URL(archiveFile, source)))
          await writeFile(join(folder, manifestFile), JSON.stringify({ pglite, migration: "x" }))
        })
      yield* madeBy(`${major}.${minor}.999`)
      assert.strictEqual((yield* Effect.promise(() => prebuiltArchive(folder)))?.length, archive?.length)
      yield* madeBy(`${major}.${Number(minor) + 1}.0`)
      assert.isUndefined(yield* Effect.promise(() => prebuiltArchive(folder)))
    })
  )

  it.live("one PostgreSQL refuses is removed, and initdb runs instead, in a folder and in memory", () =>
    Effect.gen(function* () {
      if (archive === undefined) return assert.fail("no prebuilt archive")
      // the same archive, claiming PostgreSQL 17: PGlite's PostgreSQL 18 refuses to start on it
      const refused = new Uint8Array(archive)
      const at = pgVersionBody(refused)
      assert.strictEqual(new TextDecoder().decode(refused.subarray(at, at + 3)), "18\n")
      refused[at + 1] = "7".charCodeAt(0)
      const dataDir = join(yield* tempDir, "data")
      yield* Effect.promise(() => mkdir(dataDir))
      yield* Effect.promise(() => writeFile(join(dataDir, "mine.txt"), "kept"))
      const identify = (loadDataDir?: Blob) =>
        PGlite.create({ ...(loadDataDir === undefined ? { dataDir } : { loadDataDir }) }).then(async (client) => {
          const result = await client.query<{ id: string }>(
            "select system_identifier::text as id from pg_control_system()"
          )
          await client.close()
          return result.rows[0]?.id ?? ""
        })
      const id = yield* Effect.promise(() => openFresh(dataDir, refused, identify))
      assert.notStrictEqual(id, yield* archiveIdentifier)
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dataDir, "PG_VERSION"), "utf8")), "18\n")
      assert.strictEqual(yield* Effect.promise(() => readFile(join(dataDir, "mine.txt"), "utf8")), "kept")
      const inMemory = yield* Effect.promise(() =>
        openFresh(undefined, refused, (loadDataDir) =>
          PGlite.create(loadDataDir === undefined ? {} : { loadDataDir }).then(async (client) => {
            const result = await client.query<{ v: string }>("select current_setting('server_version') as v")
            await client.close()
            return result.rows[0]?.v ?? ""
          })
        )
      )
      assert.match(inMemory, /^18\./)
    })
  )

  it.live("an extraction cut short leaves no PG_VERSION, so the next open extracts again and opens", () =>
    Effect.gen(function* () {
      if (archive === undefined) return assert.fail("no prebuilt archive")
      const dataDir = yield* tempDir
      const cut = archive.subarray(0, Math.floor(archive.length / 2))
      const failed = yield* Effect.flip(Effect.tryPromise(() => extractInto(cut, dataDir)))
      assert.match(String(failed.cause), /cut short|no end/)
      assert.isAbove((yield* Effect.promise(() => readdir(dataDir))).length, 0)
      const missing = yield* Effect.flip(Effect.tryPromise(() => access(join(dataDir, "PG_VERSION"))))
      assert.isDefined(missing)
      const opened = yield* identify({ dataDir })
      assert.strictEqual(opened.id, yield* archiveIdentifier)
    })
  )
})

describe("untar", () => {
  /** A one-entry ustar archive, its checksum computed as tar does. */
  const entry = (name: string, body: string, type = "0") => {
    const header = new Uint8Array(512)
    const put = (text: string, at: number) => header.set(new TextEncoder().encode(text), at)
    put(name, 0)
    put("0000644\0", 100)
    put(`${body.length.toString(8).padStart(11, "0")}\0`, 124)
    put(type, 156)
    put("ustar\0", 257)
    put("        ", 148)
    put(
      `${header
        .reduce((sum, byte) => sum + byte, 0)
        .toString(8)
        .padStart(6, "0")}\0 `,
      148
    )
    const padded = new Uint8Array(Math.ceil(body.length / 512) * 512)
    padded.set(new TextEncoder().encode(body))
    return [header, padded]
  }
  const archiveOf = (...parts: Array<Array<Uint8Array>>) => {
    const blocks = [...parts.flat(), new Uint8Array(1024)]
    const out = new Uint8Array(blocks.reduce((n, block) => n + block.length, 0))
    let at = 0
    for (const block of blocks) {
      out.set(block, at)
      at += block.length
    }
    return out
  }

  it.live("writes files and folders, the last ones after the others", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      const written = yield* Effect.promise(() =>
        untar(archiveOf(entry("/a/", "", "5"), entry("/a/b.txt", "bee"), entry("/c", "sea")), root, {
          last: new Set(["c"])
        })
      )
      assert.deepStrictEqual(written, ["a/", "a/b.txt", "c"])
      assert.strictEqual(yield* Effect.promise(() => readFile(join(root, "a", "b.txt"), "utf8")), "bee")
      assert.strictEqual(yield* Effect.promise(() => readFile(join(root, "c"), "utf8")), "sea")
    })
  )

  it.live("refuses an entry outside the folder, a link, and a damaged header", () =>
    Effect.gen(function* () {
      const root = yield* tempDir
      yield* Effect.promise(() => mkdir(join(root, "inner")))
      const refused = (bytes: Uint8Array) =>
        Effect.map(Effect.flip(Effect.tryPromise(() => untar(bytes, join(root, "inner")))), (e) => String(e.cause))
      assert.match(yield* refused(archiveOf(entry("../escape", "x"))), /outside the folder/)
      assert.match(yield* refused(archiveOf(entry("link", "", "2"))), /has type "2"/)
      const damaged = archiveOf(entry("file", "x"))
      damaged[0] = "g".charCodeAt(0)
      assert.match(yield* refused(damaged), /checksum/)
      const escaped = yield* Effect.flip(Effect.tryPromise(() => access(join(root, "escape"))))
      assert.isDefined(escaped)
    })
  )
})
