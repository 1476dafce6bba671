/**
 * The example for callers outside Effect, run as a user runs it: a real process on a fresh PGlite folder.
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"

const MAIN = new URL("../../examples/promise-caller/main.ts", import.meta.url).pathname

describe("examples/promise-caller", () => {
  it("runs, awaits, catches a typed failure and cancels, with Promises only", async () => {
    const dir = await mkdtemp(join(tmpdir(), "waypoint-promise-"))
    try {
      const { stdout } = await promisify(execFile)(process.execPath, [MAIN, "--data-dir", join(dir, "data")])
      const lines = stdout.trim().split("\n")
      assert.strictEqual(lines[0], "sum: 10")
      assert.match(lines[1] ?? "", /^task [0-9a-f-]{36}: 30$/)
      assert.deepStrictEqual(lines.slice(2), ["open failed: NotFound /missing", "wait: cancelled"])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
