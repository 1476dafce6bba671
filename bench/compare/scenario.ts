/**
 * What every system file exports: scenarios, each `{ name, setup, run(n) -> ms per op, teardown }`. `main.ts` sets
 * every scenario up once, runs them round after round with the systems in a new order each round, and tears them down
 * at the end; a scenario keeps between rounds whatever its setup built (a database, a runtime, a compiled graph).
 */
import { randomBytes } from "node:crypto"
import postgres from "postgres"

/** One measurement of one system: `run(n)` does `n` operations (or one of size `n`) and returns ms per operation. */
export interface Scenario {
  readonly name: ScenarioName
  readonly setup: () => Promise<void>
  readonly run: (n: number) => Promise<number>
  readonly teardown: () => Promise<void>
}

/** The measurements the table knows; a system implements the ones it has. */
export type ScenarioName =
  | "step.server"
  | "step.server.sync"
  | "step.memory"
  | "empty.server.plugins"
  | "empty.server.bare"
  | "trivial.memory"
  | "queue.2000"
  | "queue.2000.batched"
  | "queue.2000.worker"
  | "restart.server"
  | "restart.pglite"
  | "raw.insert"
  | "raw.select1"
  | "raw.commit"

/** What `run(n)`'s `n` is for each scenario: a size of `Sizes`, or one (a restart). */
export const sizeOf = (name: ScenarioName, sizes: Sizes): number =>
  name.startsWith("step.")
    ? sizes.steps
    : name.startsWith("queue.") || name === "trivial.memory"
      ? sizes.jobs
      : name.startsWith("restart.")
        ? 1
        : sizes.ops

/**
 * The scenarios whose medians the table compares with one another: `main.ts` runs a group's scenarios back to back, so
 * that a ratio compares the same minute of the server (its commit time drifts several-fold from one minute to the next
 * on a shared machine).
 */
export const groupOf = (name: ScenarioName): string =>
  name.startsWith("step.server") || name === "raw.insert"
    ? "server step"
    : name.startsWith("empty.") || name === "raw.commit" || name === "raw.select1"
      ? "empty task"
      : name.split(".")[0]!

/** The sizes of one run, from the command line. */
export interface Sizes {
  /** Steps (nodes, activities) in the one task of the step scenarios. */
  readonly steps: number
  /** Sequential operations per round of the latency scenarios (empty tasks, raw statements). */
  readonly ops: number
  /** Tasks (jobs, queued workflows) per round of the throughput scenarios. */
  readonly jobs: number
}

export interface System {
  readonly name: SystemName
  readonly scenarios: (context: BenchContext) => ReadonlyArray<Scenario>
}

export type SystemName = "waypoint" | "dbos" | "langgraph" | "graphile" | "workflow" | "raw"

export interface BenchContext {
  /** The server every system uses; each makes databases of its own on it with `freshDatabase`. */
  readonly adminUrl: string
  readonly sizes: Sizes
}

/** How many of the throughput scenarios' enqueues are in flight at once, for every system alike. */
export const ENQUEUE_CONCURRENCY = 16

/** A database of its own on the server at `adminUrl`: its URL, and `drop` to remove it (connections are forced out). */
export const freshDatabase = async (
  adminUrl: string,
  prefix: string
): Promise<{ readonly url: string; readonly drop: () => Promise<void> }> => {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const admin = async (statement: string) => {
    const sql = postgres(adminUrl, { max: 1, onnotice: () => {} })
    try {
      await sql.unsafe(statement)
    } finally {
      await sql.end()
    }
  }
  await admin(`create database ${name}`)
  return { url: url.toString(), drop: () => admin(`drop database if exists ${name} with (force)`) }
}

/** Milliseconds per operation of `ops` sequential calls of `once`. */
export const perOp = async (ops: number, once: (i: number) => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  for (let i = 0; i < ops; i++) await once(i)
  return (performance.now() - start) / ops
}

/** `count` calls of `once`, `concurrency` at a time; resolves with their results in order. */
export const pooled = async <A>(
  count: number,
  concurrency: number,
  once: (i: number) => Promise<A>
): Promise<Array<A>> => {
  const results = new Array<A>(count)
  let next = 0
  const lane = async () => {
    while (next < count) {
      const i = next++
      results[i] = await once(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
  return results
}

/** The wall clock in ms with sub-millisecond precision, comparable between processes of one machine. */
export const wallClock = (): number => performance.timeOrigin + performance.now()
