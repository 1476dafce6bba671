/**
 * Budgets and per-key limits of model calls across real processes: two workers of test/e2e/fixtures/modelWorker.ts
 * (each a runtime with `worker`, the `ModelCalls` plugin and a scripted model) over one PostgreSQL server database
 * share a supervisor's budget (`BudgetStore`) and a key's permits (`RateLimitStore`) through the store alone. Asserts
 * on the lines both printed (the model's start and end of each call, each budget reservation and settlement, with
 * the time of this machine's clock) and on the store:
 *
 * - a tokens budget shared by 20 concurrent children run by both processes is passed, at most, by the calls in
 *   flight when it was reached, and no call is granted after it was reached (nor refused before it could be);
 * - a key's concurrency limit holds across both processes (never more calls answered at once, and reached);
 * - a key's requests per minute hold across both: the calls past the limit are not made, their tasks suspended
 *   until the minute of the first call is over.
 *
 * Only on a server (PGlite is one process): skipped without DATABASE_URL, a fresh database per test.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { type BudgetState, BudgetStore, type KeyState, RateLimitStore } from "../../src/index.ts"
import { PostgresStore } from "../../src/postgres.ts"
import { isTerminal, type TaskRecord } from "../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const WORKER = new URL("./fixtures/modelWorker.ts", import.meta.url).pathname
// How long a worker may take to print what a test waits for, or the store to show it (start-up is 1-2 s).
const EVENT_TIMEOUT_MS = 30_000
/** What every call of the scripted model uses: 60 input and 40 output tokens. */
const TOKENS_PER_CALL = 100
/** The fixture's supervisor budget. */
const BUDGET_TOKENS = 3000
const KEY = "provider:default"

interface Worker {
  readonly id: string
  readonly child: ChildProcess
  readonly lines: Array<string>
  readonly exited: Promise<void>
}

/** The worker processes of one test and the lines they printed. */
const makeWorkers = () => {
  const workers: Array<Worker> = []
  const stderr: Array<string> = []
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
      worker.lines.push(...parts)
    })
    child.stderr.on("data", (chunk: Buffer) => stderr.push(`${id}: ${chunk.toString()}`))
    return worker
  }
  const stop = async () => {
    for (const worker of workers) if (worker.child.exitCode === null) worker.child.kill("SIGTERM")
    await Promise.all(workers.map((worker) => worker.exited))
  }
  const context = () => `stderr:\n${stderr.join("").slice(-4000)}`
  return { start, stop, context }
}

/** Waits until `check` holds (looked at every 50 ms), or fails saying `what`. */
const waitUntil = async (what: string, check: () => boolean | Promise<boolean>, context: () => string) => {
  const until = Date.now() + EVENT_TIMEOUT_MS
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`no ${what} within ${EVENT_TIMEOUT_MS} ms\n${context()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Two workers over `url`, both ready; stopped (SIGTERM) by `stop`. */
const startTwo = async (url: string, args: ReadonlyArray<string>) => {
  const workers = makeWorkers()
  const both = ["w1", "w2"].map((id) => workers.start(id, ["--url", url, ...args]))
  try {
    await waitUntil(
      "ready workers",
      () => both.every((worker) => worker.lines.some((line) => line.startsWith("ready "))),
      workers.context
    )
  } catch (error) {
    await workers.stop()
    throw error
  }
  return { ...workers, both }
}

type Stores = TaskStore | BudgetStore | RateLimitStore

const inStore = <A, E>(url: string, effect: Effect.Effect<A, E, Stores>): Promise<A> =>
  Effect.runPromise(Effect.provide(effect, PostgresStore.layer({ url })))

const createTasks = (url: string, tasks: ReadonlyArray<{ id: string; name: string; input: unknown }>) =>
  inStore(
    url,
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* Effect.forEach(tasks, (task) => store.create(task as Parameters<typeof store.create>[0]), {
        concurrency: "unbounded",
        discard: true
      })
    })
  )

const listTasks = (url: string): Promise<ReadonlyArray<TaskRecord>> =>
  inStore(
    url,
    Effect.gen(function* () {
      return (yield* (yield* TaskStore).list({ limit: 1000 })).items
    })
  )

const readBudget = (url: string, ownerId: string): Promise<Option.Option<BudgetState>> =>
  inStore(
    url,
    Effect.gen(function* () {
      return yield* (yield* BudgetStore).read(ownerId)
    })
  )

const readKey = (url: string): Promise<KeyState> =>
  inStore(
    url,
    Effect.gen(function* () {
      return yield* (yield* RateLimitStore).read(KEY)
    })
  )

const adminUrl = TestDatabase.adminUrl

/** A fresh server database for one test, migrated, dropped after it. */
const withDatabase = async (body: (url: string) => Promise<void>) => {
  const url = await Effect.runPromise(TestDatabase.create(adminUrl))
  try {
    await Effect.runPromise(Effect.scoped(Layer.build(PostgresStore.layer({ url }))))
    await body(url)
  } finally {
    await Effect.runPromise(TestDatabase.drop(adminUrl, url))
  }
}

// The lines, parsed.
interface Call {
  readonly task: string
  readonly call: number
  readonly at: number
}
const parse = <A>(lines: ReadonlyArray<string>, pattern: RegExp, make: (match: RegExpExecArray) => A) =>
  lines.flatMap((line) => {
    const match = pattern.exec(line)
    return match === null ? [] : [make(match)]
  })
const callsIn = (lines: ReadonlyArray<string>): Array<Call> =>
  parse(lines, /^CALL (\S+) (\d+) (\d+)$/, (m) => ({ task: m[1]!, call: Number(m[2]), at: Number(m[3]) }))
const endsIn = (lines: ReadonlyArray<string>): Array<Call> =>
  parse(lines, /^END (\S+) (\d+) (\d+)$/, (m) => ({ task: m[1]!, call: Number(m[2]), at: Number(m[3]) }))
const reservesIn = (lines: ReadonlyArray<string>) =>
  parse(lines, /^RESERVE (\S+) (\S+) (\d+) (\d+) (granted|refused)$/, (m) => ({
    task: m[1]!,
    key: m[2]!,
    asked: Number(m[3]),
    answered: Number(m[4]),
    granted: m[5] === "granted"
  }))
const settlesIn = (lines: ReadonlyArray<string>) =>
  parse(lines, /^SETTLE (\S+) (\S+) (\d+) (\d+) (\d+)$/, (m) => ({
    task: m[1]!,
    key: m[2]!,
    tokens: Number(m[3]),
    asked: Number(m[4]),
    written: Number(m[5])
  }))
const refusalsIn = (lines: ReadonlyArray<string>) =>
  parse(lines, /^REFUSED (\S+) (\d+) (\S+)$/, (m) => ({ task: m[1]!, call: Number(m[2]), dimension: m[3]! }))

/**
 * The most calls being answered at once, from their CALL and END times: an END and a CALL of the same millisecond
 * are taken in that order (a permit given back, then taken), so only a real overlap is counted. A call is answered
 * between its CALL and its END, which both lie inside the time it held its permit: the count is at most the number
 * of permits held at once.
 */
const mostAtOnce = (calls: ReadonlyArray<Call>, ends: ReadonlyArray<Call>) => {
  const events = [
    ...calls.map((call) => ({ at: call.at, change: 1 })),
    ...ends.map((end) => ({ at: end.at, change: -1 }))
  ].sort((a, b) => a.at - b.at || a.change - b.change)
  let current = 0
  let most = 0
  for (const event of events) {
    current += event.change
    most = Math.max(most, current)
  }
  return most
}

/** Each (task, call) once, and each answered: its END after its CALL. */
const assertEachCallOnceAndEnded = (calls: ReadonlyArray<Call>, ends: ReadonlyArray<Call>) => {
  const id = (call: Call) => `${call.task}/${call.call}`
  assert.strictEqual(new Set(calls.map(id)).size, calls.length, "no call made twice")
  const endOf = new Map(ends.map((end) => [id(end), end.at]))
  assert.strictEqual(endOf.size, calls.length, "every call answered")
  for (const call of calls) assert.isAtLeast(endOf.get(id(call)) ?? -1, call.at, id(call))
}

/**
 * The settlement that brought the budget to its limit when the settlements are taken in the order of `at`, and how
 * many were taken by then (it included).
 */
const reachingIn = <S extends { readonly tokens: number }>(settles: ReadonlyArray<S>, at: (settle: S) => number) => {
  let spent = 0
  const ordered = [...settles].sort((a, b) => at(a) - at(b))
  for (const [index, settle] of ordered.entries()) {
    spent += settle.tokens
    if (spent >= BUDGET_TOKENS) return { settle, count: index + 1 }
  }
  return undefined
}

const taskIds = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(2, "0")}`)

describe.skipIf(TestDatabase.noServer)("model limits, two processes: postgres: needs DATABASE_URL", () => {
  it("a tokens budget shared by 20 children in two processes: passed at most by the calls in flight when it was reached, no call granted after", async () => {
    await withDatabase(async (url) => {
      const workers = await startTwo(url, ["--concurrency", "10", "--poll-interval", "50 millis"])
      // 20 agents of up to 4 calls each (80 calls, 8000 tokens) under a budget of 3000 tokens
      try {
        await createTasks(url, [
          { id: "supervisor", name: "supervisor", input: { children: 20, calls: 4, gateMs: 2000 } }
        ])
        await waitUntil(
          "supervisor's end",
          async () => (await listTasks(url)).some((task) => task.id === "supervisor" && isTerminal(task.status)),
          workers.context
        )
      } finally {
        await workers.stop()
      }
      const [w1, w2] = workers.both as [Worker, Worker]
      const lines = [...w1.lines, ...w2.lines]
      const context = `${workers.context()}\n${lines.filter((line) => !line.startsWith("END")).join("\n")}`
      const tasks = await listTasks(url)
      const root = tasks.find((task) => task.id === "supervisor")!
      assert.strictEqual(root.status, "completed", `${JSON.stringify(root)}\n${context}`)
      const agents = tasks.filter((task) => task.parentId === "supervisor")
      assert.strictEqual(agents.length, 20)
      for (const agent of agents) assert.strictEqual(agent.status, "completed", JSON.stringify(agent))

      const calls = callsIn(lines)
      const ends = endsIn(lines)
      const reserves = reservesIn(lines)
      const granted = reserves.filter((reserve) => reserve.granted)
      const refused = reserves.filter((reserve) => !reserve.granted)
      const settles = settlesIn(lines)
      assertEachCallOnceAndEnded(calls, ends)
      // both processes made calls: a budget shared across processes
      assert.isAbove(callsIn(w1.lines).length, 0, context)
      assert.isAbove(callsIn(w2.lines).length, 0, context)
      // every call made was granted (each model call `n` of a task after its reservation `model:n`), and settled with
      // its tokens; the ledger holds them all, nothing left reserved
      assert.strictEqual(calls.length, granted.length, context)
      for (const call of calls) {
        const reserve = granted.find((reserve) => reserve.task === call.task && reserve.key === `model:${call.call}`)
        assert.isDefined(reserve, `${call.task} ${call.call} was granted`)
        assert.isAtMost(reserve!.asked, call.at)
      }
      assert.strictEqual(settles.length, granted.length, context)
      assert.deepStrictEqual(
        settles.map((settle) => `${settle.task}/${settle.key}`).sort(),
        granted.map((reserve) => `${reserve.task}/${reserve.key}`).sort()
      )
      for (const settle of settles) assert.strictEqual(settle.tokens, TOKENS_PER_CALL)
      const ledger = Option.getOrThrow(await readBudget(url, "supervisor"))
      assert.deepStrictEqual(ledger.limits, { tokens: BUDGET_TOKENS })
      assert.deepStrictEqual(ledger.spent, {
        calls: calls.length,
        tokens: calls.length * TOKENS_PER_CALL,
        costNanos: 0
      })
      assert.deepStrictEqual(ledger.reserved, { calls: 0, tokens: 0, costNanos: 0 })
      // the budget was reached and stopped calls: every refusal by tokens, and each agent stopped at its first
      const refusals = refusalsIn(lines)
      assert.isAbove(refused.length, 0, context)
      assert.strictEqual(refusals.length, refused.length)
      assert.isTrue(refusals.every((refusal) => refusal.dimension === "tokens"))
      assert.strictEqual(new Set(refusals.map((refusal) => refusal.task)).size, refusals.length)
      const outputs = root.output as ReadonlyArray<number>
      assert.strictEqual(
        outputs.reduce((sum, answered) => sum + answered, 0),
        calls.length,
        "the agents' outputs count every call made"
      )

      // When it was reached, at the latest: the settlement whose write (by its `written` time) brought what the
      // settlements written until then spent to the limit. A reservation asked after that time found it reached.
      const reaching = reachingIn(settles, (settle) => settle.written)
      assert.isDefined(reaching, context)
      const reachedBy = reaching!.settle.written
      const late = granted.filter((reserve) => reserve.asked > reachedBy)
      assert.deepStrictEqual(late, [], `no call is granted after the budget was reached at ${reachedBy}\n${context}`)
      // When it was reached, at the earliest: settlements asked before this time cannot have brought it there. A
      // refusal answered before it would be the refusal of a budget not reached.
      const reachedFrom = reachingIn(settles, (settle) => settle.asked)!.settle.asked
      const early = refused.filter((reserve) => reserve.answered < reachedFrom)
      assert.deepStrictEqual(early, [], `no call refused before the budget could be reached at ${reachedFrom}`)
      // Passed, at most, by the calls in flight when it was reached: every call granted (all before `reachedBy`,
      // as above) but the settled ones that reached it.
      const inFlight = granted.length - reaching!.count
      const passedBy = ledger.spent.tokens - BUDGET_TOKENS
      assert.isAtLeast(passedBy, 0)
      assert.isAtMost(passedBy, inFlight * TOKENS_PER_CALL, context)
      assert.isAtLeast(inFlight, 2, `several calls were in flight when the budget was reached\n${context}`)
    })
  }, 60_000)

  it("a key's concurrency limit of 3 holds across two processes: never more than 3 calls answered at once", async () => {
    await withDatabase(async (url) => {
      const workers = await startTwo(url, [
        "--concurrency",
        "6",
        "--limits",
        JSON.stringify({ [KEY]: { concurrency: 3 } })
      ])
      const ids = taskIds("c", 12)
      try {
        await createTasks(
          url,
          ids.map((id) => ({ id, name: "caller", input: { calls: 2, delayMs: 100 } }))
        )
        await waitUntil(
          "12 completed callers",
          async () => (await listTasks(url)).filter((task) => task.status === "completed").length === 12,
          workers.context
        )
      } finally {
        await workers.stop()
      }
      const [w1, w2] = workers.both as [Worker, Worker]
      const lines = [...w1.lines, ...w2.lines]
      const context = `${workers.context()}\n${lines.join("\n")}`
      const tasks = await listTasks(url)
      assert.deepStrictEqual(
        tasks.map((task) => [task.id, task.status, task.output]).sort(),
        ids.map((id) => [id, "completed", 2])
      )
      const calls = callsIn(lines)
      const ends = endsIn(lines)
      assert.strictEqual(calls.length, 24, context)
      assertEachCallOnceAndEnded(calls, ends)
      assert.isAbove(callsIn(w1.lines).length, 0, context)
      assert.isAbove(callsIn(w2.lines).length, 0, context)
      const most = mostAtOnce(calls, ends)
      assert.isAtMost(most, 3, context)
      assert.strictEqual(most, 3, `the limit was used\n${context}`)
      // every permit given back
      assert.deepStrictEqual((await readKey(url)).holders, {})
    })
  }, 60_000)

  it("a key's 5 requests per minute hold across two processes: 5 of 8 calls made, the other tasks suspended until the minute is over", async () => {
    await withDatabase(async (url) => {
      const workers = await startTwo(url, [
        "--concurrency",
        "4",
        "--limits",
        JSON.stringify({ [KEY]: { requestsPerMinute: 5 } })
      ])
      const ids = taskIds("r", 8)
      let tasks: ReadonlyArray<TaskRecord> = []
      let lines: Array<string> = []
      try {
        await createTasks(
          url,
          ids.map((id) => ({ id, name: "caller", input: { calls: 1, delayMs: 300 } }))
        )
        await waitUntil(
          "5 completed and 3 suspended callers",
          async () => {
            tasks = await listTasks(url)
            const count = (status: string) => tasks.filter((task) => task.status === status).length
            return count("completed") === 5 && count("suspended") === 3
          },
          workers.context
        )
        // a while more, for a call that should not come
        await new Promise((resolve) => setTimeout(resolve, 500))
        lines = workers.both.flatMap((worker) => worker.lines)
      } finally {
        await workers.stop()
      }
      const [w1, w2] = workers.both as [Worker, Worker]
      const context = `${workers.context()}\n${lines.join("\n")}`
      const calls = callsIn(lines)
      assert.strictEqual(calls.length, 5, context)
      assertEachCallOnceAndEnded(calls, endsIn(lines))
      assert.isAbove(callsIn(w1.lines).length, 0, context)
      assert.isAbove(callsIn(w2.lines).length, 0, context)
      const completed = tasks.filter((task) => task.status === "completed")
      assert.deepStrictEqual(
        completed.map((task) => task.id).sort(),
        [...new Set(calls.map((call) => call.task))].sort()
      )
      // the minute's requests, shared: the 5 calls; each suspended task runs again when the first leaves the minute
      const key = await readKey(url)
      assert.deepStrictEqual(key.holders, {})
      assert.strictEqual(key.requests.length, 5)
      const firstAt = Math.min(...key.requests.map(([at]) => at))
      const firstCall = Math.min(...calls.map((call) => call.at))
      assert.isAtMost(firstAt, firstCall)
      assert.isAtMost(firstCall - firstAt, 1_000, "the first permit was taken just before the first call")
      const suspended = (await listTasks(url)).filter((task) => task.status === "suspended")
      assert.strictEqual(suspended.length, 3, context)
      for (const task of suspended) {
        assert.deepStrictEqual(task.suspendReason, { _tag: "Paused", until: firstAt + 60_000 }, JSON.stringify(task))
        assert.strictEqual(task.runAt, firstAt + 60_000, JSON.stringify(task))
      }
    })
  }, 60_000)
})
