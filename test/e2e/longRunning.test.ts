/**
 * The long-running example as a user runs it: a real child process, really killed, then run again over the same
 * embedded PGlite folder. Asserts on what the processes printed and on the store they left.
 */
import { spawn } from "node:child_process"
import { cp, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PgliteStore } from "../../src/postgres.ts"

const MAIN = new URL("../../examples/long-running/main.ts", import.meta.url).pathname

interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly lines: ReadonlyArray<string>
  /** The end of what it wrote to stderr, for a failure's message. */
  readonly stderr: string
}

/** Runs the example; with `killAfterMs`, SIGKILLs it then (if it is still running). */
const runExample = (args: ReadonlyArray<string>, killAfterMs?: number): Promise<Run> =>
  new Promise((resolve, reject) => {
    // The embedded store always: with DATABASE_URL set (as in CI), the example would otherwise use the server.
    const child = spawn(process.execPath, [MAIN, "--store", "pglite", ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), killAfterMs)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      if (timer !== undefined) clearTimeout(timer)
      resolve({ code, signal, lines: stdout.split("\n").filter((line) => line.length > 0), stderr })
    })
  })

const done = (run: Run) =>
  run.lines.flatMap((line) => {
    const match = /^step (\d+)\/\d+ done$/.exec(line)
    return match === null ? [] : [Number(match[1])]
  })
const started = (run: Run) =>
  run.lines.flatMap((line) => {
    const match = /^step (\d+)\/\d+ started$/.exec(line)
    return match === null ? [] : [Number(match[1])]
  })

/** A migrated, empty PGlite folder to copy: opening a copy skips initdb (3-5 s) and takes well under a second. */
const makeTemplate = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-template-"))
  await Effect.runPromise(Effect.scoped(Layer.build(PgliteStore.layer({ dataDir: join(dir, "data") }))))
  return join(dir, "data")
}

describe("examples/long-running", () => {
  it("dies after step 2 with --crash-after 2, then resumes at step 3 and runs steps 3..5 once", async () => {
    const template = await makeTemplate()
    const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-"))
    const dataDir = join(dir, "data")
    await cp(template, dataDir, { recursive: true })
    try {
      const args = ["--num-steps", "5", "--crash-after", "2", "--step-ms", "20", "--data-dir", dataDir]
      const first = await runExample(args)
      assert.notStrictEqual(first.code, 0, "the process died")
      assert.deepStrictEqual(done(first), [1, 2])
      assert.deepStrictEqual(started(first), [1, 2])

      const second = await runExample(args)
      assert.strictEqual(second.code, 0, second.lines.join("\n"))
      assert.isTrue(
        second.lines.some((line) => /resuming task .* after step 2$/.test(line)),
        second.lines.join("\n")
      )
      assert.deepStrictEqual(started(second), [3, 4, 5])
      assert.deepStrictEqual(done(second), [3, 4, 5])
      assert.include(second.lines.at(-1) ?? "", '"lastStep":5')
      assert.include(second.lines.join("\n"), "result of step 1")

      const third = await runExample(["--data-dir", dataDir])
      assert.strictEqual(third.code, 0)
      assert.deepStrictEqual(started(third), [], "a completed task runs nothing again")

      const reset = await runExample(["--num-steps", "2", "--step-ms", "10", "--reset", "--data-dir", dataDir])
      assert.strictEqual(reset.code, 0)
      assert.isTrue(
        reset.lines.some((line) => line.startsWith("starting task")),
        "--reset starts over"
      )
      assert.deepStrictEqual(done(reset), [1, 2])
    } finally {
      await rm(dir, { recursive: true, force: true })
      await rm(join(template, ".."), { recursive: true, force: true })
    }
  }, 120_000)

  it("refuses an unknown flag or a bad value with exit code 2", async () => {
    const unknown = await runExample(["--bogus"])
    assert.strictEqual(unknown.code, 2)
    const bad = await runExample(["--num-steps", "zero"])
    assert.strictEqual(bad.code, 2)
    const help = await runExample(["--help"])
    assert.strictEqual(help.code, 0)
    assert.include(help.lines.join("\n"), "--crash-after <k>")
  }, 60_000)

  it("simulates the crash inside one process with --store memory", async () => {
    const run = await new Promise<Run>((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, "--store", "memory", "--crash-after", "2", "--step-ms", "10"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString()
      })
      child.on("error", reject)
      child.on("close", (code, signal) =>
        resolve({ code, signal, lines: stdout.split("\n").filter((l) => l.length > 0), stderr: "" })
      )
    })
    assert.strictEqual(run.code, 0)
    assert.deepStrictEqual(started(run), [1, 2, 3, 4, 5])
    assert.deepStrictEqual(done(run), [1, 2, 3, 4, 5])
    assert.isTrue(run.lines.some((line) => /after step 2$/.test(line)))
  }, 60_000)

  it("on a terminal, draws the bar as one line below the log lines and clears it before each log line", async () => {
    // `script` gives the example a pseudo-terminal, as a user's terminal would.
    const onTerminal = (args: string) =>
      new Promise<{ readonly code: number | null; readonly output: string }>((resolve, reject) => {
        const command = `${process.execPath} ${MAIN} ${args}`
        const child = spawn("script", ["-qec", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] })
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString()
        })
        child.on("error", reject)
        child.on("close", (code) => resolve({ code, output }))
      })
    const { code, output } = await onTerminal("--store memory --num-steps 3 --step-ms 20")
    assert.strictEqual(code, 0, output)
    const bar = /\[[#.]{30}\] \d+% [^\r\n]*/
    const bars = output.match(new RegExp(bar.source, "g")) ?? []
    assert.include(bars.at(-1), "100% step 3/3")
    for (const segment of output.split("\r\n").filter((s) => s.length > 0)) {
      // What is left of a line once every bar drawn and then erased (`\r` + erase-line) is taken away.
      const line = segment.replace(new RegExp(`(${bar.source})?\\r\\u001b\\[2K`, "g"), "")
      assert.match(
        line,
        /^(step \d\/3 (started|done)|starting task .+|completed: 3 steps|final state: .+|\[[#.]{30}\] 100% .+)$/
      )
    }
    // the crash's message starts a line of its own, below the bar
    const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-tty-"))
    try {
      const crashed = await onTerminal(`--store pglite --data-dir ${join(dir, "data")} --num-steps 3 --crash-after 1`)
      assert.strictEqual(crashed.code, 3, crashed.output)
      assert.match(crashed.output, /\] 33% step 1\/3\r\ncrashing on purpose after step 1\r\n/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("survives SIGKILL at random moments, 12 times in a row: every run ends complete, no committed step runs again", async () => {
    const template = await makeTemplate()
    try {
      for (let round = 0; round < 12; round++) {
        const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-kill-"))
        const dataDir = join(dir, "data")
        await cp(template, dataDir, { recursive: true })
        try {
          const args = ["--num-steps", "5", "--step-ms", "150", "--data-dir", dataDir]
          // Start-up takes about a second; the steps then run for about 0.75 s: kill somewhere in between or after.
          const runs: Array<Run> = [await runExample(args, 900 + Math.floor(Math.random() * 1_500))]
          if (runs[0]?.code !== 0) runs.push(await runExample(args))
          const last = runs.at(-1)!
          assert.strictEqual(last.code, 0, `round ${round}: ${last.lines.join("\n")}\n${last.stderr}`)
          assert.isTrue(
            last.lines.some((line) => line.includes('"lastStep":5')) ||
              last.lines.some((l) => l.includes("already completed")),
            `round ${round} ends complete`
          )
          // No step whose `done` line was printed (its checkpoint committed) starts again in a later run.
          const committed = new Set<number>()
          for (const run of runs) {
            for (const step of started(run)) {
              assert.isFalse(committed.has(step), `round ${round}: step ${step} ran again after its checkpoint`)
            }
            for (const step of done(run)) committed.add(step)
          }
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      }
    } finally {
      await rm(join(template, ".."), { recursive: true, force: true })
    }
  }, 600_000)
})
