/**
 * Workers as real processes (test/e2e/fixtures/worker.ts) sharing one store: killed with SIGKILL, frozen with
 * SIGSTOP past their lease, restarted under the same identity. Asserts on the lines they printed and on the store
 * they left: every task completes, a step whose result was recorded never runs again, a stale attempt writes nothing
 * that counts. On a PostgreSQL server (only when DATABASE_URL is set, a fresh database per test) and on PGlite.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import type { StoreError } from "../../src/stores/errors.ts"
import { StepStore } from "../../src/stores/StepStore.ts"
import type { TaskRecord } from "../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const WORKER = new URL("./fixtures/worker.ts", import.meta.url).pathname
const STEPS = 10
const STEP_MS = 20
// How long a worker may take to print what a test waits for (start-up is about a second on an idle machine).
const EVENT_TIMEOUT_MS = 60_000

interface Worker {
  readonly id: string
  readonly child: ChildProcess
  /** Every line it printed so far. */
  readonly lines: Array<string>
  readonly exited: Promise<void>
}

/**
 * The lines of the workers of one test, as they are printed: `waitFor` resolves with the first line (printed already
 * or to come) that `match` accepts, from any worker; `onLine` sees each line first (to SIGKILL at an exact point).
 */
const makeBus = (onLine?: (line: string, worker: Worker) => void) => {
  const workers: Array<Worker> = []
  const stderr: Array<string> = []
  const waiters = new Set<{
    readonly match: (line: string, worker: Worker) => boolean
    resolve: (line: string) => void
  }>()
  const start = (id: string, args: ReadonlyArray<string>): Worker => {
    const child = spawn(process.execPath, [WORKER, "--id", id, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    const worker: Worker = {
      id,
      child,
      lines: [],
      exited: new Promise((resolve) => child.on("close", () => resolve()))
    }
    workers.push(worker)
    let partial = ""
    child.stdout.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split("\n")
      partial = parts.pop() ?? ""
      for (const line of parts) {
        worker.lines.push(line)
        onLine?.(line, worker)
        for (const waiter of waiters) if (waiter.match(line, worker)) waiter.resolve(line)
      }
    })
    child.stderr.on("data", (chunk: Buffer) => stderr.push(`${id}: ${chunk.toString()}`))
    return worker
  }
  const waitFor = (what: string, match: (line: string, worker: Worker) => boolean): Promise<string> => {
    for (const worker of workers) {
      const found = worker.lines.find((line) => match(line, worker))
      if (found !== undefined) return Promise.resolve(found)
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (line: string) => {
          waiters.delete(waiter)
          clearTimeout(timer)
          resolve(line)
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter)
        reject(new Error(`no ${what} within ${EVENT_TIMEOUT_MS} ms\n${stderr.join("")}`))
      }, EVENT_TIMEOUT_MS)
      waiters.add(waiter)
    })
  }
  const stop = async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGTERM")
    await Promise.all(workers.map((worker) => worker.exited))
  }
  const lines = () => workers.flatMap((worker) => worker.lines)
  return { start, waitFor, stop, lines }
}

const isReady = (line: string) => line.startsWith("ready ")
const isStepRun = (line: string) => / step \d+ ran by /.test(line)
const taskIds = (count: number) => Array.from({ length: count }, (_, i) => `t${String(i).padStart(2, "0")}`)

interface Ran {
  readonly task: string
  readonly step: number
  readonly runner: string
  readonly at: number
}
const ranIn = (lines: ReadonlyArray<string>): Array<Ran> =>
  lines.flatMap((line) => {
    const match = /^(\S+) step (\d+) ran by (\S+) at (\d+)$/.exec(line)
    return match === null ? [] : [{ task: match[1]!, step: Number(match[2]), runner: match[3]!, at: Number(match[4]) }]
  })
const committedIn = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const match = /^(\S+) step (\d+) committed by (\S+)$/.exec(line)
    return match === null ? [] : [{ task: match[1]!, step: Number(match[2]), runner: match[3]! }]
  })
const claimsIn = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const match = /^(\S+) claimed token (\d+) at (\d+) by (\S+)$/.exec(line)
    return match === null ? [] : [{ task: match[1]!, token: Number(match[2]), at: Number(match[3]), runner: match[4]! }]
  })
const finishesIn = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const match = /^(\S+) finish (\w+) by (\S+)$/.exec(line)
    return match === null ? [] : [{ task: match[1]!, tag: match[2]!, runner: match[3]! }]
  })
/** How a worker signs its lines and its step results. */
const runnerOf = (worker: Worker) => `${worker.id}/${worker.child.pid}`

/** What the store holds at the end: every task, and the recorded result of every step of each. */
interface Stored {
  readonly tasks: ReadonlyArray<TaskRecord>
  readonly steps: ReadonlyMap<string, ReadonlyMap<string, unknown>>
}

const readStore = (layer: Layer.Layer<TaskStore | StepStore, StoreError>): Promise<Stored> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const tasks = yield* TaskStore
      const steps = yield* StepStore
      const page = yield* tasks.list({ limit: 1000 })
      const recorded = new Map<string, ReadonlyMap<string, unknown>>()
      for (const task of page.items) recorded.set(task.id, yield* steps.listSteps(task.id))
      return { tasks: page.items, steps: recorded } satisfies Stored
    }).pipe(Effect.provide(layer))
  )

/** Creates `count` tasks `t00`, `t01`, ... of `STEPS` steps. */
const createTasks = (layer: Layer.Layer<TaskStore, StoreError>, count: number, steps = STEPS, stepMs = STEP_MS) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* Effect.forEach(taskIds(count), (id) => store.create({ id, name: "tenSteps", input: { steps, stepMs } }), {
        concurrency: 4
      })
    }).pipe(Effect.provide(layer))
  )

/**
 * Every task completed, its output (its state) holding each step's recorded result, and no step effect run again
 * once its result was recorded: a step's effect ran twice only when `killed` ran it first and died before its
 * result was recorded (the result recorded is the second runner's, and `killed` never printed it committed).
 */
const assertCompleteAndRunOnce = (stored: Stored, lines: ReadonlyArray<string>, killed: string, taskCount: number) => {
  assert.strictEqual(stored.tasks.length, taskCount)
  const ran = ranIn(lines)
  const committedByKilled = new Set(
    committedIn(lines)
      .filter((line) => line.runner === killed)
      .map((line) => `${line.task}:${line.step}`)
  )
  let ranAgain = 0
  for (const task of stored.tasks) {
    assert.strictEqual(task.status, "completed", `${task.id}: ${JSON.stringify(task)}`)
    const steps = stored.steps.get(task.id)!
    const expected: Record<string, string> = {}
    for (let i = 1; i <= STEPS; i++) {
      const recorded = String(steps.get(`step:s${i}`))
      assert.isTrue(steps.has(`step:s${i}`), `${task.id} step ${i} is recorded`)
      expected[`s${i}`] = recorded
      const runners = ran.filter((r) => r.task === task.id && r.step === i).map((r) => r.runner)
      const where = `${task.id} step ${i} ran by [${runners.join(", ")}], recorded ${recorded}`
      assert.strictEqual(runners.filter((runner) => runner === recorded).length, 1, where)
      const others = runners.filter((runner) => runner !== recorded)
      assert.isTrue(
        others.length === 0 || (others.length === 1 && others[0] === killed),
        `only the killed worker may have run it before: ${where}`
      )
      if (others.length > 0) {
        ranAgain++
        assert.isFalse(committedByKilled.has(`${task.id}:${i}`), `ran again after its commit: ${where}`)
      }
    }
    assert.deepStrictEqual(task.output, expected, `${task.id}: its state holds every step's recorded result`)
  }
  return ranAgain
}

const adminUrl = process.env.DATABASE_URL

/** A fresh server database for one test, dropped after it. */
const withDatabase = async (body: (url: string) => Promise<void>) => {
  if (adminUrl === undefined) return
  const url = await Effect.runPromise(TestDatabase.create(adminUrl))
  try {
    // migrate once here, so that the workers only open it
    await Effect.runPromise(Effect.scoped(Layer.build(PostgresStore.layer({ url }))))
    await body(url)
  } finally {
    await Effect.runPromise(TestDatabase.drop(adminUrl, url))
  }
}

describe.skipIf(TestDatabase.noServer)("workers: postgres: needs DATABASE_URL", () => {
  it("3 workers share 30 tasks; one is SIGKILLed mid-step; the others finish all, no recorded step runs again", async () => {
    await withDatabase(async (url) => {
      const stores = PostgresStore.layer({ url })
      let victim: Worker | undefined
      const started = new Map<Worker, number>()
      // The first worker to start its 15th step effect dies in it (inside its ~20 ms of work).
      const bus = makeBus((line, worker) => {
        if (victim !== undefined || !isStepRun(line)) return
        started.set(worker, (started.get(worker) ?? 0) + 1)
        if ((started.get(worker) ?? 0) < 15) return
        victim = worker
        worker.child.kill("SIGKILL")
      })
      const workers = ["w1", "w2", "w3"].map((id) => bus.start(id, ["--url", url]))
      try {
        await Promise.all(workers.map((worker) => bus.waitFor("ready", (line, w) => w === worker && isReady(line))))
        await createTasks(stores, 30)
        await Promise.all(
          taskIds(30).map((id) =>
            bus.waitFor(`${id} completed`, (line) => line.startsWith(`${id} finish Completed by `))
          )
        )
      } finally {
        await bus.stop()
      }
      assert.isDefined(victim)
      const killed = runnerOf(victim!)
      assert.strictEqual(victim!.child.signalCode, "SIGKILL")
      const lines = bus.lines()
      const stored = await readStore(stores)
      const ranAgain = assertCompleteAndRunOnce(stored, lines, killed, 30)
      // it died holding tasks, and the others completed them: each task once
      const finishedByVictim = new Set(finishesIn(victim!.lines).map((finish) => finish.task))
      const orphans = new Set(
        claimsIn(victim!.lines)
          .map((claim) => claim.task)
          .filter((task) => !finishedByVictim.has(task))
      )
      assert.isAbove(orphans.size, 0)
      const completions = finishesIn(lines).filter((finish) => finish.tag === "Completed")
      assert.deepStrictEqual(completions.map((finish) => finish.task).sort(), taskIds(30), "each task completed once")
      for (const task of orphans) {
        assert.notStrictEqual(completions.find((finish) => finish.task === task)?.runner, killed)
      }
      assert.isAtMost(ranAgain, orphans.size, "at most one step per orphaned task ran again")
    })
  }, 120_000)

  it("fences a worker frozen past its lease: resumed, its writes are refused and its attempt stops; the task completes once, by the other", async () => {
    await withDatabase(async (url) => {
      const stores = PostgresStore.layer({ url })
      const bus = makeBus()
      try {
        const a = bus.start("A", ["--url", url])
        await bus.waitFor("ready", isReady)
        await createTasks(stores, 1, 20, 50)
        await bus.waitFor("step 2", (line) => line.startsWith("t00 step 2 ran by A/"))
        a.child.kill("SIGSTOP")
        const b = bus.start("B", ["--url", url])
        const takeOver = await bus.waitFor("a claim by B", (line) => /^t00 claimed token \d+ at \d+ by B\//.test(line))
        a.child.kill("SIGCONT")
        await bus.waitFor("A's attempt interrupted", (line) => line === `t00 interrupted by ${runnerOf(a)}`)
        await bus.waitFor("completion", (line) => line.startsWith("t00 finish Completed by "))
        const task = (await readStore(stores)).tasks[0]!
        assert.deepStrictEqual([task.status, task.attempt], ["completed", 1])
        const first = claimsIn(a.lines)[0]!
        const second = claimsIn([takeOver])[0]!
        assert.isAbove(second.token, first.token)
        assert.isAtLeast(second.at, first.at + 2_000, "taken over once A's lease had expired")
        // A's fenced writes once it woke: its heartbeat, and the outcome of the attempt it then stopped
        assert.include(a.lines, `t00 heartbeat lost by ${runnerOf(a)}`)
        assert.isTrue(
          a.lines.some((line) => /^t00 finish \w+ lost by /.test(line)),
          a.lines.join("\n")
        )
        assert.deepStrictEqual(finishesIn(a.lines), [], "A recorded no outcome")
        assert.deepStrictEqual(
          finishesIn(b.lines).map((finish) => [finish.task, finish.tag]),
          [["t00", "Completed"]]
        )
      } finally {
        await bus.stop()
      }
    })
  }, 120_000)

  it("resumes at once after a restart with the same id: claims before the dead lease expires, no poll", async () => {
    await withDatabase(async (url) => {
      const stores = PostgresStore.layer({ url })
      // a long lease and a poll interval of an hour: only `recover` can explain a quick resume
      const args = ["--url", url, "--recover", "--lease", "30 seconds", "--poll-interval", "1 hour"]
      let runs = 0
      const bus = makeBus((line, worker) => {
        if (isStepRun(line) && ++runs === 6) worker.child.kill("SIGKILL")
      })
      try {
        const first = bus.start("R", args)
        await bus.waitFor("ready", isReady)
        await createTasks(stores, 3, STEPS, 100)
        await first.exited
        const dead = (await readStore(stores)).tasks.filter((task) => task.status === "running")
        assert.isAbove(dead.length, 0)
        const second = bus.start("R", args)
        const recovered = await bus.waitFor("recovered", (line, w) => w === second && line.startsWith("recovered "))
        assert.deepStrictEqual(
          recovered.split(" ")[2]!.split(",").sort(),
          dead.map((task) => task.id)
        )
        await Promise.all(
          taskIds(3).map((id) => bus.waitFor(`${id} completed`, (line) => line.startsWith(`${id} finish Completed`)))
        )
        for (const task of dead) {
          assert.strictEqual(task.leaseOwner, "R")
          const deadLeaseExpiresAt = task.leaseExpiresAt!
          const claim = claimsIn(second.lines).find((c) => c.task === task.id)!
          assert.isBelow(claim.at, deadLeaseExpiresAt, `${task.id}: claimed again before its dead lease expired`)
          assert.isAbove(claim.token, task.fencingToken)
          const resumed = ranIn(second.lines).find((r) => r.task === task.id)!
          assert.isBelow(resumed.at, deadLeaseExpiresAt, `${task.id}: first resumed step before the dead lease expired`)
        }
        await bus.stop()
        assertCompleteAndRunOnce(await readStore(stores), bus.lines(), runnerOf(first), 3)
      } finally {
        await bus.stop()
      }
    })
  }, 120_000)
})

describe("workers: pglite", () => {
  it("a worker SIGKILLed mid-step restarts with the same id over the same folder: all tasks complete, no recorded step runs again", async () => {
    const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-workers-"))
    const dataDir = join(dir, "data")
    try {
      const stores = PgliteStore.layer({ dataDir })
      // the one initdb of this test; the workers open the folder it leaves
      await createTasks(stores, 30)
      const args = ["--data-dir", dataDir, "--recover"]
      let runs = 0
      const bus = makeBus((line, worker) => {
        if (isStepRun(line) && ++runs === 25) worker.child.kill("SIGKILL")
      })
      try {
        const first = bus.start("P", args)
        await first.exited
        assert.strictEqual(first.child.signalCode, "SIGKILL")
        const completedBefore = new Set(finishesIn(first.lines).map((finish) => finish.task))
        const second = bus.start("P", args)
        const recovered = await bus.waitFor("recovered", (line, w) => w === second && line.startsWith("recovered "))
        assert.deepStrictEqual(
          recovered.split(" ")[2]!.split(",").sort(),
          [...new Set(claimsIn(first.lines).map((claim) => claim.task))]
            .filter((id) => !completedBefore.has(id))
            .sort(),
          "it took back every task it was running"
        )
        await Promise.all(
          taskIds(30)
            .filter((id) => !completedBefore.has(id))
            .map((id) =>
              bus.waitFor(`${id} completed`, (line, w) => w === second && line.startsWith(`${id} finish Completed`))
            )
        )
        await bus.stop()
        const ranAgain = assertCompleteAndRunOnce(await readStore(stores), bus.lines(), runnerOf(first), 30)
        const orphans = claimsIn(first.lines).filter((claim) => !completedBefore.has(claim.task))
        assert.isAtMost(ranAgain, orphans.length, "at most one step per task it was running ran again")
      } finally {
        await bus.stop()
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
