/**
 * `runMain` as a process: what it printed reaches the reader in full, even when the reader is slow, as a script reading
 * a page of `--json` through a pipe is.
 */
import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"

const PRINT_MANY = new URL("./printMany.ts", import.meta.url).pathname

/** Runs the program that prints `count` characters, reading its stdout only once it has printed them all. */
const printed = (count: number) =>
  new Promise<{ readonly code: number | null; readonly length: number }>((resolve, reject) => {
    const child = spawn(process.execPath, [PRINT_MANY, String(count)], { stdio: ["ignore", "pipe", "pipe"] })
    let length = 0
    child.stdout.pause()
    child.stdout.on("data", (chunk: Buffer) => {
      length += chunk.length
    })
    // the program's last words: from then on it only exits, with the pipe full and the rest still in the process
    child.stderr.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("printed")) child.stdout.resume()
    })
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, length }))
  })

describe("runMain", () => {
  it("exits once a slow pipe has taken all it printed: 300 000 characters, where the pipe holds 64 KiB", async () => {
    assert.deepStrictEqual(await printed(300_000), { code: 0, length: 300_001 })
  }, 30_000)
})
