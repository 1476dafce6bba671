/**
 * `effect-waypoint/postgres` loads each driver only when its store is built: a program on one store runs in a process
 * where the other store's driver cannot be resolved (hidden by a module resolution hook, as if not installed), and a
 * store whose driver is missing fails to open with a StoreError naming the package to install.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TestDatabase from "./postgres/TestDatabase.ts"

const hook = fileURLToPath(new URL("./fixtures/hidePackages.ts", import.meta.url))
const script = fileURLToPath(new URL("./fixtures/runTask.ts", import.meta.url))

/** Runs `runTask.ts` with `hide` unresolvable; its exit code and what it printed. */
const runWithout = (hide: ReadonlyArray<string>, args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, ["--import", hook, script, ...args], {
      env: { ...process.env, HIDE_PACKAGES: hide.join(",") },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.on("close", (code) => resume(Effect.succeed({ code, output })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("effect-waypoint/postgres without one of its drivers", () => {
  it.live(
    "runs a task on PGlite where postgres.js cannot be resolved",
    () =>
      Effect.gen(function* () {
        const { code, output } = yield* runWithout(["postgres"], ["pglite"])
        assert.strictEqual(output.trim(), "output 42", output)
        assert.strictEqual(code, 0)
      }),
    60_000
  )

  it.live(
    "fails to open PGlite where it cannot be resolved, naming the package to install",
    () =>
      Effect.gen(function* () {
        const { code, output } = yield* runWithout(["@electric-sql/pglite"], ["pglite"])
        assert.strictEqual(code, 1, output)
        assert.include(output, 'this store needs the package "@electric-sql/pglite"')
      }),
    60_000
  )

  describe.skipIf(TestDatabase.noServer)("on a server: needs DATABASE_URL", () => {
    it.live(
      "runs a task on a server where PGlite cannot be resolved",
      () =>
        Effect.gen(function* () {
          const url = yield* TestDatabase.scoped(TestDatabase.adminUrl)
          const { code, output } = yield* runWithout(["@electric-sql/pglite"], ["postgres", url])
          assert.strictEqual(output.trim(), "output 42", output)
          assert.strictEqual(code, 0)
        }).pipe(Effect.scoped),
      60_000
    )
  })
})
