/**
 * The multi-agent example as a user runs it: real processes, really killed (SIGKILL), then run again over the same
 * store: a PGlite folder, and with DATABASE_URL a fresh server database. Each killed run must resume its tree and end
 * with the report an uninterrupted run gives, no step an agent recorded may run again, no model call whose answer
 * was recorded may be made again (the example's scripted model, traced by `--trace-model`), the run's usage must
 * count each call once, and every agent must exist once in the store.
 */
import { spawn } from "node:child_process"
import { cp, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const MAIN = new URL("../../examples/multi-agent/main.ts", import.meta.url).pathname
const PLAN = ["--topics", "tides,reefs+,storms", "--steps", "3", "--step-ms", "30", "--trace-model"]
// 3 researchers of 3 steps, a sub-researcher of 2: the 11th step recorded is the last (then the sub-researcher's
// model call, and the supervisor's join)
const RESEARCH_STEPS = 11
// the supervisor's plan, a finding per researcher step, the history, the writer's report
const MODEL_CALLS = 1 + 9 + 1 + 1
const LIFE_TIMEOUT_MS = 60_000

interface Life {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly lines: ReadonlyArray<string>
  readonly stderr: string
}

/** When to SIGKILL a life from outside: `delayMs` after it printed its `startedSteps`-th step start. */
interface KillAt {
  readonly startedSteps: number
  readonly delayMs: number
}

/** One process of the example over `store` (its arguments and environment), maybe killed from outside. */
const life = (store: Store, args: ReadonlyArray<string>, killAt?: KillAt): Promise<Life> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...store.args, ...PLAN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WAYPOINT_MODEL_BASE_URL: "", WAYPOINT_MODEL: "", ...store.env }
    })
    let stdout = ""
    let stderr = ""
    let isKillTimed = false
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      const started = stdout.match(/ step \d+ started\n/g)?.length ?? 0
      if (killAt !== undefined && !isKillTimed && started >= killAt.startedSteps) {
        isKillTimed = true
        setTimeout(() => child.kill("SIGKILL"), killAt.delayMs)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000)
    })
    const kill = setTimeout(() => child.kill("SIGKILL"), LIFE_TIMEOUT_MS)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(kill)
      resolve({ code, signal, lines: stdout.split("\n").filter((line) => line.length > 0), stderr })
    })
  })

/** The report a life printed: the lines after `report:`, up to the run's usage. */
const reportOf = (run: Life) => {
  const report = run.lines.slice(run.lines.indexOf("report:") + 1)
  return report.slice(
    0,
    report.findIndex((line) => line.startsWith("usage: "))
  )
}

/** The steps a life saw start, or recorded, as `path#step`. */
const steps = (run: Life, event: "started" | "recorded") =>
  run.lines.flatMap((line) => {
    const match = /^(\S+) step (\d+) (started|recorded)$/.exec(line)
    return match === null || match[3] !== event ? [] : [`${match[1]}#${match[2]}`]
  })

/** The model calls a life really made (`started`), or whose answers it recorded, as `path#call`. */
const modelCalls = (run: Life, event: "started" | "recorded") =>
  run.lines.flatMap((line) => {
    const match = /^(\S+) model call (\d+) (started|recorded)$/.exec(line)
    return match === null || match[3] !== event ? [] : [`${match[1]}#${match[2]}`]
  })

/** The run's usage a life printed last: `usage: <calls> calls, <in> in, <out> out tokens, $<cost>`. */
const usageOf = (run: Life) => {
  const line = run.lines.findLast((line) => line.startsWith("usage: "))
  const match = /^usage: (\d+) calls, (\d+) in, (\d+) out tokens, \$(\d+\.\d{4})$/.exec(line ?? "")
  assert.isNotNull(match, `a usage line: ${line}`)
  const [calls, input, output, cost] = (match as RegExpExecArray).slice(1).map(Number) as [
    number,
    number,
    number,
    number
  ]
  return { calls, input, output, cost }
}

/** Where a test's example keeps its run: the arguments and environment that name it, and its stores for a check. */
interface Store {
  readonly args: ReadonlyArray<string>
  readonly env: Record<string, string>
  readonly layer: Layer.Layer<TaskStore, unknown>
  readonly dispose: () => Promise<void>
}

type MakeStore = () => Promise<Store>

/** The agents the store holds, by name: each must be there once. */
const agentCounts = (store: Store) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const tasks = yield* TaskStore
      const counts: Record<string, number> = {}
      for (const task of (yield* tasks.list({ limit: 1000 })).items) counts[task.name] = (counts[task.name] ?? 0) + 1
      return counts
    }).pipe(Effect.scoped, Effect.provide(store.layer)) as Effect.Effect<Record<string, number>>
  )

const scenarios = (name: string, makeStore: MakeStore) =>
  describe(`examples/multi-agent on ${name}`, () => {
    /** The report and usage of an uninterrupted run (it waits for approval, and a second command gives it). */
    let reference: Promise<{ report: ReadonlyArray<string>; usage: ReturnType<typeof usageOf> }> | undefined
    const uninterrupted = () => {
      reference ??= (async () => {
        const store = await makeStore()
        try {
          const first = await life(store, [])
          assert.strictEqual(first.code, 0, first.stderr)
          assert.include(first.lines, "waiting for approval: run this command again with --approve")
          // every call but the writer's, each made once and counted once
          assert.strictEqual(modelCalls(first, "started").length, MODEL_CALLS - 1)
          assert.strictEqual(new Set(modelCalls(first, "started")).size, MODEL_CALLS - 1)
          assert.deepStrictEqual(modelCalls(first, "recorded").toSorted(), modelCalls(first, "started").toSorted())
          assert.strictEqual(usageOf(first).calls, MODEL_CALLS - 1)
          const second = await life(store, ["--approve"])
          assert.strictEqual(second.code, 0, second.stderr)
          // the second command ran only what was left: the writer, and its call to the model
          assert.deepStrictEqual(steps(second, "started"), ["supervisor/writer#1"])
          assert.deepStrictEqual(modelCalls(second, "started"), ["supervisor/writer#1"])
          const usage = usageOf(second)
          assert.strictEqual(usage.calls, MODEL_CALLS)
          assert.isAbove(usage.input, usage.output)
          assert.isAbove(usage.cost, 0)
          return { report: reportOf(second), usage }
        } finally {
          await store.dispose()
        }
      })()
      return reference
    }

    it("waits for approval, then a second command approves and the writer joins the notes", async () => {
      const { report } = await uninterrupted()
      assert.deepStrictEqual(report, [
        "1. tides: fact 1 on tides; fact 2 on tides; fact 3 on tides",
        "2. reefs: fact 1 on reefs; fact 2 on reefs; fact 3 on reefs; the history of reefs",
        "3. storms: fact 1 on storms; fact 2 on storms; fact 3 on storms"
      ])
    }, 120_000)

    const killed = (title: string, firstArgs: ReadonlyArray<string>, killAt?: KillAt) =>
      it(title, async () => {
        const { report, usage } = await uninterrupted()
        const store = await makeStore()
        try {
          const first = await life(store, firstArgs, killAt)
          assert.strictEqual(first.signal, "SIGKILL", `the first life was killed: ${first.lines.join("\n")}`)
          const second = await life(store, ["--approve"])
          assert.strictEqual(second.code, 0, `${second.lines.join("\n")}\n${second.stderr}`)
          assert.deepStrictEqual(reportOf(second), report)
          // no step recorded before the kill ran again
          const recorded = new Set(steps(first, "recorded"))
          assert.deepStrictEqual(
            steps(second, "started").filter((step) => recorded.has(step)),
            [],
            second.lines.join("\n")
          )
          // and none was recorded twice
          const all = [...steps(first, "recorded"), ...steps(second, "recorded")]
          assert.strictEqual(new Set(all).size, all.length)
          // no model call answered before the kill was made again (one in flight at the kill may be)
          const answered = new Set(modelCalls(first, "recorded"))
          assert.deepStrictEqual(
            modelCalls(second, "started").filter((call) => answered.has(call)),
            [],
            second.lines.join("\n")
          )
          const calls = [...modelCalls(first, "recorded"), ...modelCalls(second, "recorded")]
          assert.strictEqual(new Set(calls).size, calls.length)
          // the run's usage counts each call once, as an uninterrupted run's does
          assert.deepStrictEqual(usageOf(second), usage)
          assert.deepStrictEqual(await agentCounts(store), {
            supervisor: 1,
            researcher: 3,
            "sub-researcher": 1,
            writer: 1
          })
        } finally {
          await store.dispose()
        }
      }, 120_000)

    it("forks the run from its checkpoint with one researcher replaced: the others do not run again", async () => {
      const store = await makeStore()
      try {
        const first = await life(store, [])
        assert.include(first.lines, "checkpoint after-research kept: --fork after-research starts a new run from here")
        const replaced = 'supervisor/reefs={"topic":"kelp","steps":2,"deep":false}'
        const forked = await life(store, ["--fork", "after-research", "--replace", replaced])
        assert.strictEqual(forked.code, 0, forked.stderr)
        assert.isTrue(
          forked.lines.some((line) => line.startsWith("forked run ")),
          forked.lines.join("\n")
        )
        // only the replaced researcher ran (its steps are labelled by its new topic); the supervisor's plan is
        // answered from the record the fork copied
        assert.deepStrictEqual(steps(forked, "started"), ["supervisor/kelp#1", "supervisor/kelp#2"])
        assert.deepStrictEqual(modelCalls(forked, "started"), ["supervisor/kelp#1", "supervisor/kelp#2"])
        const approved = await life(store, ["--approve"])
        assert.strictEqual(approved.code, 0, approved.stderr)
        assert.deepStrictEqual(steps(approved, "started"), ["supervisor/writer#1"])
        assert.deepStrictEqual(modelCalls(approved, "started"), ["supervisor/writer#1"])
        assert.deepStrictEqual(reportOf(approved), [
          "1. tides: fact 1 on tides; fact 2 on tides; fact 3 on tides",
          "2. kelp: fact 1 on kelp; fact 2 on kelp",
          "3. storms: fact 1 on storms; fact 2 on storms; fact 3 on storms"
        ])
        const bad = await life(store, ["--fork", "after-research", "--replace", "supervisor/nobody=1"])
        assert.strictEqual(bad.code, 2, bad.stderr)
      } finally {
        await store.dispose()
      }
    }, 120_000)

    killed("killed by --crash-after 1 (the fan-out has begun) resumes the tree", ["--crash-after", "1"])
    killed(`killed by --crash-after ${RESEARCH_STEPS} (the last research step, at the join) resumes the tree`, [
      "--crash-after",
      String(RESEARCH_STEPS),
      "--approve"
    ])
    // anywhere from the first step to the writer's: mid-step, between steps, at the join, at the approval
    const killAt = { startedSteps: 1 + Math.floor(Math.random() * (RESEARCH_STEPS + 1)), delayMs: Math.random() * 40 }
    killed(
      `killed from outside ${Math.round(killAt.delayMs)} ms after step start ${killAt.startedSteps} resumes the tree`,
      ["--approve"],
      killAt
    )
  })

/** A migrated, empty PGlite folder to copy for each test: opening a copy skips initdb. */
let template: Promise<string> | undefined
const pgliteTemplate = () => {
  template ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), "waypoint-agents-template-"))
    await Effect.runPromise(Effect.scoped(Layer.build(PgliteStore.layer({ dataDir: join(dir, "data") }))))
    return join(dir, "data")
  })()
  return template
}
afterAll(async () => {
  if (template !== undefined) await rm(dirname(await template), { recursive: true, force: true })
})

scenarios("PGlite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "waypoint-agents-"))
  const dataDir = join(dir, "data")
  await cp(await pgliteTemplate(), dataDir, { recursive: true })
  return {
    args: ["--store", "pglite", "--data-dir", dataDir],
    env: {},
    layer: PgliteStore.layer({ dataDir }),
    dispose: () => rm(dir, { recursive: true, force: true })
  }
})

describe.skipIf(TestDatabase.noServer)("PostgreSQL server: needs DATABASE_URL", () => {
  scenarios("the server", async () => {
    const url = await Effect.runPromise(TestDatabase.create(TestDatabase.adminUrl))
    return {
      args: ["--store", "postgres"],
      env: { DATABASE_URL: url },
      layer: PostgresStore.layer({ url }),
      dispose: () => Effect.runPromise(TestDatabase.drop(TestDatabase.adminUrl, url))
    }
  })
})
