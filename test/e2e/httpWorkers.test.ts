/**
 * The HTTP + workers example as a user runs it: one command starts the server and two worker processes over one
 * PostgreSQL server, starts tasks over HTTP and follows them to the end. Only on a server (the workers share it):
 * skipped without DATABASE_URL, a fresh database per run.
 */
import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const MAIN = new URL("../../examples/http-workers/main.ts", import.meta.url).pathname

const runExample = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv) =>
  new Promise<{ code: number | null; pid: number | undefined; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, pid: child.pid, stdout, stderr }))
  })

describe.skipIf(TestDatabase.noServer)("examples/http-workers: needs DATABASE_URL", () => {
  it("starts tasks over HTTP that worker processes run to the end, then stops them all", async () => {
    const url = await Effect.runPromise(TestDatabase.create(TestDatabase.adminUrl))
    try {
      const run = await runExample(["--demo", "4", "--workers", "2", "--port", "0"], {
        ...process.env,
        DATABASE_URL: url
      })
      assert.strictEqual(run.code, 0, run.stderr)
      const lines = run.stdout.split("\n")
      assert.strictEqual(lines.filter((line) => /^worker worker-\d+ ready$/.test(line)).length, 2, run.stdout)
      const ended = lines.filter((line) => /^task \S+ completed, rendered by pid \d+$/.test(line))
      assert.strictEqual(ended.length, 4, run.stdout)
      assert.include(run.stdout, "4/4 completed by")
      // the workers ran them all, the server (this process's child) none
      const workers = new Set(ended.map((line) => line.split(" ").at(-1)))
      assert.notInclude([...workers], String(run.pid))
    } finally {
      await Effect.runPromise(TestDatabase.drop(TestDatabase.adminUrl, url))
    }
  }, 90_000)

  it("refuses a bad option with exit code 2", async () => {
    const run = await runExample(["--workers", "none"], { ...process.env, DATABASE_URL: "postgres://unused" })
    assert.strictEqual(run.code, 2)
    assert.include(run.stderr, "--workers must be a whole number")
  }, 30_000)
})
