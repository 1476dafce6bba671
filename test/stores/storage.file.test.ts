import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import * as FileStorageBackend from "../../src/stores/file/FileStorageBackend.ts"
import { StorageBackend } from "../../src/stores/StorageBackend.ts"
import { storageBackendSuite } from "../../src/testing.ts"
import { crashKey, crashPayloads } from "./fixtures/crashPayloads.ts"

/** A fresh folder for one test, removed with everything in it when the test ends. */
const tempFolder = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "waypoint-storage-"))),
  (folder) => Effect.promise(() => fs.rm(folder, { recursive: true, force: true }))
)

const fileLayer = Layer.unwrap(Effect.map(tempFolder, (directory) => FileStorageBackend.layer({ directory })))

storageBackendSuite("file", fileLayer)

const text = new TextDecoder()

describe("FileStorageBackend", () => {
  it.effect("keeps one file per key in its folder, and no temporary file after a save", () =>
    Effect.gen(function* () {
      const directory = yield* tempFolder
      const backend = yield* FileStorageBackend.make({ directory: path.join(directory, "nested", "store") })
      yield* backend.save("sessions/Ab", "1")
      yield* backend.save("sessions/Ab", "2")
      yield* backend.save("plain", "3")
      const names = yield* Effect.promise(() => fs.readdir(path.join(directory, "nested", "store")))
      assert.deepStrictEqual(names.sort(), ["plain", "sessions%2F%41b"])
    }).pipe(Effect.scoped)
  )

  it.effect("ignores files it did not write", () =>
    Effect.gen(function* () {
      const directory = yield* tempFolder
      const backend = yield* FileStorageBackend.make({ directory })
      yield* Effect.promise(() => fs.writeFile(path.join(directory, "README.txt"), "not a key"))
      yield* Effect.promise(() => fs.writeFile(path.join(directory, "bad%zzescape"), "not a key"))
      yield* Effect.promise(() => fs.writeFile(path.join(directory, "a%2F%2Fb"), "an invalid key"))
      yield* backend.save("mine", "1")
      assert.deepStrictEqual(yield* backend.listKeys(""), ["mine"])
    }).pipe(Effect.scoped)
  )

  it.effect("removes temporary files a crashed writer left an hour ago, and no newer ones", () =>
    Effect.gen(function* () {
      const directory = yield* tempFolder
      const old = path.join(directory, ".tmp-old")
      const recent = path.join(directory, ".tmp-recent")
      yield* Effect.promise(async () => {
        await fs.writeFile(old, "torn")
        await fs.writeFile(recent, "in flight")
        await fs.utimes(old, 1_000, 1_000)
        await fs.utimes(recent, 7_000, 7_000)
      })
      yield* TestClock.adjust("2 hours")
      yield* FileStorageBackend.make({ directory })
      const names = yield* Effect.promise(() => fs.readdir(directory))
      assert.deepStrictEqual(names, [".tmp-recent"])
    }).pipe(Effect.scoped)
  )

  it.effect("refuses a key whose file name would be too long", () =>
    Effect.gen(function* () {
      const backend = yield* StorageBackend
      const error = yield* Effect.flip(backend.save("K".repeat(100), "x"))
      assert.strictEqual(error._tag, "InvalidKey")
      yield* backend.save("k".repeat(200), "fits")
    }).pipe(Effect.provide(fileLayer))
  )

  /** Starts the writer, waits until its first save is on disk, lets it run `millis` more, and kills it. */
  const killWriterAfter = (directory: string, millis: number) =>
    Effect.callback<void, Error>((resume) => {
      const script = path.join(import.meta.dirname, "fixtures", "crashWriter.ts")
      const child = spawn(process.execPath, [script, directory], { stdio: ["ignore", "pipe", "pipe"] })
      let stderr = ""
      let timer: ReturnType<typeof setTimeout> | undefined
      child.stderr.on("data", (chunk) => {
        stderr += String(chunk)
      })
      child.stdout.on("data", (chunk) => {
        if (timer === undefined && String(chunk).includes("ready")) {
          timer = setTimeout(() => child.kill("SIGKILL"), millis)
        }
      })
      child.on("exit", (_code, signal) => {
        if (timer !== undefined) clearTimeout(timer)
        resume(
          signal === "SIGKILL"
            ? Effect.void
            : Effect.fail(new Error(`writer exited by itself (${String(signal)}): ${stderr}`))
        )
      })
      return Effect.sync(() => child.kill("SIGKILL"))
    })

  it.live(
    "holds a complete old or new value after the writer is killed mid-write, every time",
    () =>
      Effect.gen(function* () {
        const directory = yield* tempFolder
        const seen = new Set<string>()
        for (let round = 0; round < 8; round++) {
          yield* killWriterAfter(directory, Math.floor(Math.random() * 150))
          const backend = yield* FileStorageBackend.make({ directory })
          const stored = text.decode(Option.getOrThrow(yield* backend.load(crashKey)))
          const which = crashPayloads.indexOf(stored)
          assert.isTrue(which >= 0, `round ${round}: a torn value of ${stored.length} characters`)
          seen.add(String(which))
        }
        assert.isAtLeast(seen.size, 1)
      }).pipe(Effect.scoped),
    60_000
  )
})
