/**
 * Child tasks across real crashes: a supervisor with five agents of two steps each (test/e2e/fixtures/supervisor.ts)
 * SIGKILLs its own process at one boundary of the tree's life, then a new process with the same runtime id does what
 * the README's "After a crash" says (`recover`, then `run` with the first run's idempotency key). Asserts on the store
 * and on the lines printed: every child exists once under its key, no step ran again once its result was recorded
 * (none at all where nothing was mid-step at the kill), and the supervisor completes with every agent's output, in
 * order. Also SIGKILLs a bigger tree at random moments. On PGlite (a folder) and, with DATABASE_URL, on a server (a
 * fresh database per test).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { cp, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import type { StoreError } from "../../src/stores/errors.ts"
import { StepStore } from "../../src/stores/StepStore.ts"
import type { TaskRecord } from "../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const SUPERVISOR = new URL("./fixtures/supervisor.ts", import.meta.url).pathname
const RUNTIME_ID = "sup"
// How long one life may take to finish its tree (start-up is 1-2 s here; the tree well under a second).
const LIFE_TIMEOUT_MS = 30_000

interface Life {
  readonly lines: Array<string>
  readonly child: ChildProcess
  /** Resolves with the first line (printed already or to come) that `match` accepts. */
  readonly waitFor: (match: (line: string) => boolean) => Promise<string>
  readonly ended: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly stderr: () => string
}

const startLife = (args: ReadonlyArray<string>): Life => {
  const child = spawn(process.execPath, [SUPERVISOR, "--id", RUNTIME_ID, ...args], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  const waiters = new Set<{ readonly match: (line: string) => boolean; readonly resolve: (line: string) => void }>()
  let partial = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) {
      lines.push(line)
      for (const waiter of waiters) if (waiter.match(line)) waiter.resolve(line)
    }
  })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal }))
  )
  const waitFor = (match: (line: string) => boolean) => {
    const found = lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return new Promise<string>((resolve) => {
      const waiter = {
        match,
        resolve: (line: string) => {
          waiters.delete(waiter)
          resolve(line)
        }
      }
      waiters.add(waiter)
    })
  }
  return { lines, child, waitFor, ended, stderr: () => stderr }
}

/** Runs a life to its end; one still running after `LIFE_TIMEOUT_MS` is killed and fails the test with its lines. */
const runLife = async (args: ReadonlyArray<string>) => {
  const life = startLife(args)
  const timer = setTimeout(() => life.child.kill("SIGKILL"), LIFE_TIMEOUT_MS)
  const end = await life.ended
  clearTimeout(timer)
  return { ...life, ...end, timedOut: end.signal === "SIGKILL" && !life.lines.some((l) => l.startsWith("crash ")) }
}

/** How a life signs its lines and its step results. */
const runnerOf = (life: Life) => `${RUNTIME_ID}/${life.child.pid}`

interface Ran {
  readonly child: string
  readonly step: number
  readonly runner: string
}
const linesOf = (lines: ReadonlyArray<string>, verb: "ran" | "committed"): Array<Ran> =>
  lines.flatMap((line) => {
    const match = /^agent (\S+) step (\d) (\w+) by (\S+)$/.exec(line)
    return match === null || match[3] !== verb ? [] : [{ child: match[1]!, step: Number(match[2]), runner: match[4]! }]
  })

/** Everything the store holds: the tasks, and each agent's recorded steps. */
interface Stored {
  readonly tasks: ReadonlyArray<TaskRecord>
  readonly steps: ReadonlyMap<string, ReadonlyMap<string, unknown>>
}

type Stores = Layer.Layer<TaskStore | StepStore, StoreError>

const readStore = (stores: Stores): Promise<Stored> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const tasks = yield* TaskStore
      const stepStore = yield* StepStore
      const all = (yield* tasks.list({ limit: 1000 })).items
      const steps = new Map<string, ReadonlyMap<string, unknown>>()
      for (const record of all) if (record.name === "agent") steps.set(record.id, yield* stepStore.listSteps(record.id))
      return { tasks: all, steps } satisfies Stored
    }).pipe(Effect.provide(stores))
  )

const keysOf = (count: number) => Array.from({ length: count }, (_, i) => `c${i}`)

/**
 * The tree of `root` is complete: one supervisor under that idempotency key, completed with every agent's output in
 * the keys' order; one agent per key under it, completed, each step recorded once; a step's effect ran again only
 * after a run in a killed life that never committed it (with `strict`, never). Returns how many ran again.
 */
const assertTreeComplete = (
  stored: Stored,
  lines: ReadonlyArray<string>,
  root: string,
  keys: ReadonlyArray<string>,
  killed: ReadonlySet<string>,
  strict: boolean
) => {
  const roots = stored.tasks.filter((t) => t.name === "supervisor" && t.idempotencyKey === root)
  assert.strictEqual(roots.length, 1, `one supervisor for ${root}`)
  const parent = roots[0]!
  assert.strictEqual(parent.status, "completed", JSON.stringify(parent))
  const children = stored.tasks.filter((t) => t.parentId === parent.id)
  assert.deepStrictEqual(children.map((c) => c.childKey).sort(), [...keys].sort(), `${root}: one child per key`)
  const ran = linesOf(lines, "ran")
  const committed = linesOf(lines, "committed")
  const outputs: Array<{ key: string; s1: string; s2: string }> = []
  let ranAgain = 0
  for (const key of keys) {
    const child = children.find((c) => c.childKey === key)!
    assert.deepStrictEqual([child.name, child.status], ["agent", "completed"], `${root}/${key}`)
    const steps = stored.steps.get(child.id)!
    const recorded: Array<string> = []
    for (const i of [1, 2]) {
      assert.isTrue(steps.has(`step:s${i}`), `${root}/${key} step ${i} is recorded`)
      const by = String(steps.get(`step:s${i}`))
      recorded.push(by)
      const runners = ran.filter((r) => r.child === child.id && r.step === i).map((r) => r.runner)
      const where = `${root}/${key} step ${i} ran by [${runners.join(", ")}], recorded ${by}`
      assert.strictEqual(runners.filter((r) => r === by).length, 1, where)
      const before = runners.filter((r) => r !== by)
      if (strict) assert.deepStrictEqual(before, [], `ran once: ${where}`)
      for (const runner of before) {
        assert.isTrue(killed.has(runner), `only a killed life may have run it before: ${where}`)
        assert.isFalse(
          committed.some((c) => c.child === child.id && c.step === i && c.runner === runner),
          `ran again after its commit: ${where}`
        )
      }
      ranAgain += before.length
    }
    outputs.push({ key, s1: recorded[0]!, s2: recorded[1]! })
  }
  assert.deepStrictEqual(parent.output, outputs, `${root}: every agent's output, in order`)
  return ranAgain
}

type Boundary = "created" | "before-suspend" | "released" | "last-ended" | "reading"

interface Scenario {
  readonly boundary: Boundary
  readonly concurrency?: number
  /** No step can be running at the kill: each must have run exactly once. */
  readonly strict: boolean
  /** What the store holds at the kill: the parent's status, and how many of its children exist / ended. */
  readonly atKill: (parent: TaskRecord, children: ReadonlyArray<TaskRecord>) => void
}

const ended = (children: ReadonlyArray<TaskRecord>) => children.filter((c) => c.status === "completed").length

const scenarios: ReadonlyArray<Scenario> = [
  {
    boundary: "created",
    strict: true,
    atKill: (parent, children) => {
      assert.strictEqual(parent.status, "running")
      assert.isAtLeast(children.length, 1)
      assert.strictEqual(ended(children), 0)
    }
  },
  {
    boundary: "before-suspend",
    concurrency: 2,
    strict: false,
    atKill: (parent, children) => {
      assert.strictEqual(parent.status, "running")
      assert.strictEqual(children.length, 5)
      assert.isAtLeast(
        children.filter((c) => c.suspendReason?._tag === "QueuedBehindSiblings").length,
        1,
        "queued children"
      )
    }
  },
  {
    boundary: "released",
    concurrency: 2,
    strict: false,
    atKill: (parent, children) => {
      assert.deepStrictEqual([parent.status, parent.suspendReason?._tag], ["suspended", "WaitingForChildren"])
      assert.isAtLeast(children.filter((c) => c.status === "pending").length, 1, "a released child")
      assert.isAtLeast(ended(children), 1)
    }
  },
  {
    boundary: "last-ended",
    concurrency: 2,
    strict: true,
    atKill: (parent, children) => {
      assert.strictEqual(parent.status, "pending", "runnable, in the last child's end")
      assert.strictEqual(ended(children), 5)
    }
  },
  {
    boundary: "reading",
    strict: true,
    atKill: (parent, children) => {
      assert.strictEqual(parent.status, "running")
      assert.strictEqual(ended(children), 5)
    }
  }
]

/**
 * One scenario: a first life dies at the boundary, the store is checked as it left it, a second life (no crash)
 * finishes the tree, and the tree is checked.
 */
const crashAndRestart = async (scenario: Scenario, storeArgs: ReadonlyArray<string>, stores: Stores) => {
  const args = [
    ...storeArgs,
    "--roots",
    "root",
    "--children",
    "5",
    ...(scenario.concurrency === undefined ? [] : ["--concurrency", String(scenario.concurrency)])
  ]
  const first = await runLife([...args, "--crash", scenario.boundary])
  const context = `${first.lines.join("\n")}\n${first.stderr()}`
  assert.strictEqual(first.signal, "SIGKILL", context)
  assert.include(first.lines, `crash ${scenario.boundary} by ${runnerOf(first)}`, context)
  const atKill = await readStore(stores)
  const parent = atKill.tasks.find((t) => t.name === "supervisor")!
  scenario.atKill(
    parent,
    atKill.tasks.filter((t) => t.parentId === parent.id)
  )

  const second = await runLife(args)
  const lines = [...first.lines, ...second.lines]
  assert.strictEqual(second.code, 0, `${second.lines.join("\n")}\n${second.stderr()}`)
  const stored = await readStore(stores)
  assertTreeComplete(stored, lines, "root", keysOf(5), new Set([runnerOf(first)]), scenario.strict)
  const done = second.lines.find((line) => line.startsWith("done root "))!
  assert.deepStrictEqual(
    JSON.parse(done.slice("done root ".length)),
    stored.tasks.find((t) => t.id === parent.id)?.output
  )
  assert.strictEqual(stored.tasks.length, 6, "the supervisor and its five agents, nothing else")
}

/**
 * A supervisor of 8 agents (at most 3 at once) per root, roots run one after another by each life: every life is
 * SIGKILLed at a random moment after it starts, 10 times, then one runs to the end. Each tree is complete.
 */
const randomKills = async (storeArgs: ReadonlyArray<string>, stores: Stores) => {
  const roots = ["r0", "r1", "r2"]
  const killed = new Set<string>()
  const lines: Array<string> = []
  const delays: Array<number> = []
  for (let round = 0; round < 10; round++) {
    const life = startLife([...storeArgs, "--roots", roots.join(","), "--children", "8", "--concurrency", "3"])
    const delay = Math.floor(Math.random() * 900)
    delays.push(delay)
    void life
      .waitFor((line) => line.startsWith("ready "))
      .then(() => setTimeout(() => life.child.kill("SIGKILL"), delay))
    const end = await life.ended
    lines.push(...life.lines)
    if (end.signal === "SIGKILL") killed.add(runnerOf(life))
    else assert.strictEqual(end.code, 0, `${life.lines.join("\n")}\n${life.stderr()}`)
  }
  const last = await runLife([...storeArgs, "--roots", roots.join(","), "--children", "8", "--concurrency", "3"])
  lines.push(...last.lines)
  assert.strictEqual(last.code, 0, `delays ${delays.join(", ")}\n${last.lines.join("\n")}\n${last.stderr()}`)
  const stored = await readStore(stores)
  for (const root of roots) assertTreeComplete(stored, lines, root, keysOf(8), killed, false)
  assert.strictEqual(stored.tasks.length, roots.length * 9)
  return { killed: killed.size }
}

// A migrated PGlite folder to copy for each test: opening a copy skips initdb (3-5 s).
let template: string | undefined
const withPgliteFolder = async (body: (dataDir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-children-"))
  const dataDir = join(dir, "data")
  await cp(template!, dataDir, { recursive: true })
  try {
    await body(dataDir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const adminUrl = process.env.DATABASE_URL

/** A fresh server database for one test, migrated, dropped after it. */
const withDatabase = async (body: (url: string) => Promise<void>) => {
  const url = await Effect.runPromise(TestDatabase.create(adminUrl!))
  try {
    await Effect.runPromise(Effect.scoped(Layer.build(PostgresStore.layer({ url }))))
    await body(url)
  } finally {
    await Effect.runPromise(TestDatabase.drop(adminUrl!, url))
  }
}

describe.concurrent("children across crashes: pglite", () => {
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-children-template-"))
    await Effect.runPromise(Effect.scoped(Layer.build(PgliteStore.layer({ dataDir: join(dir, "data") }))))
    template = join(dir, "data")
  }, 60_000)
  afterAll(async () => {
    if (template !== undefined) await rm(join(template, ".."), { recursive: true, force: true })
  })

  for (const scenario of scenarios) {
    it(`SIGKILLed at "${scenario.boundary}", then recovered: each child once, each step once, all results in order`, async () => {
      await withPgliteFolder((dataDir) =>
        crashAndRestart(scenario, ["--data-dir", dataDir], PgliteStore.layer({ dataDir }))
      )
    }, 120_000)
  }

  it("SIGKILLed at random moments 10 times while supervisors of 8 agents run: every tree completes, once", async () => {
    await withPgliteFolder((dataDir) =>
      randomKills(["--data-dir", dataDir], PgliteStore.layer({ dataDir })).then(() => {})
    )
  }, 300_000)
})

describe.skipIf(TestDatabase.noServer).concurrent("children across crashes: postgres: needs DATABASE_URL", () => {
  for (const scenario of scenarios) {
    it(`SIGKILLed at "${scenario.boundary}", then recovered: each child once, each step once, all results in order`, async () => {
      await withDatabase((url) => crashAndRestart(scenario, ["--url", url], PostgresStore.layer({ url })))
    }, 120_000)
  }
})
