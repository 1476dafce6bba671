/**
 * A PGlite folder is for one process at a time: a second process is refused while the first lives (a real process,
 * killed with SIGKILL), and opens the folder once it has died, the lock it left behind taken over.
 */
import { spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PgliteStore } from "../../../src/postgres.ts"

const HOLDER = new URL("../fixtures/holdPglite.ts", import.meta.url).pathname

describe("PGlite folder lock", () => {
  it.live(
    "refuses a second process while the first has the folder open, and opens it once that one was killed",
    () =>
      Effect.gen(function* () {
        const folder = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-lock-"))),
          (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
        )
        const dataDir = join(folder, "data")
        const holder = spawn(process.execPath, [HOLDER, dataDir], { stdio: ["ignore", "pipe", "inherit"] })
        yield* Effect.addFinalizer(() => Effect.sync(() => holder.kill("SIGKILL")))
        yield* Effect.promise(
          () =>
            new Promise<void>((resolve) => {
              holder.stdout?.on("data", (chunk: Buffer) => {
                if (chunk.toString().includes("open")) resolve()
              })
            })
        )
        const refused = yield* Effect.flip(Layer.build(PgliteStore.layer({ dataDir })).pipe(Effect.scoped))
        assert.strictEqual(refused._tag, "StoreError")
        const cause = (refused as { readonly cause?: { readonly _tag?: string; readonly pid?: number } }).cause
        assert.strictEqual(cause?._tag, "DataDirInUse")
        assert.strictEqual(cause?.pid, holder.pid)
        holder.kill("SIGKILL")
        yield* Effect.promise(() => new Promise((resolve) => holder.on("exit", resolve)))
        yield* Layer.build(PgliteStore.layer({ dataDir })).pipe(Effect.scoped)
        // The same process opens it again after closing it: its own lock went with its scope.
        yield* Layer.build(PgliteStore.layer({ dataDir })).pipe(Effect.scoped)
      }).pipe(Effect.scoped),
    60_000
  )
})
