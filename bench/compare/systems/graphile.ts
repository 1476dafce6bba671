/**
 * graphile-worker (0.18): enqueue -> completed of trivial jobs in one process, the jobs added through the runner
 * (`runner.addJob`, `ENQUEUE_CONCURRENCY` at a time) and counted done at the worker's `job:complete` event (the result
 * written back to the database). Two runners, each on a database of its own: the library's defaults (one job at a time,
 * no batching), and its batched options (a local queue that locks jobs 500 at a time, job completions written in
 * batches, 16 jobs at a time), as its performance guide suggests for many short jobs.
 */
import { Logger, type Runner, type RunnerOptions, run } from "graphile-worker"
import {
  type BenchContext,
  ENQUEUE_CONCURRENCY,
  freshDatabase,
  pooled,
  type Scenario,
  type System
} from "../scenario.ts"

const silent = new Logger(() => () => {})

const batched: Partial<RunnerOptions> = {
  concurrency: 16,
  preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
}

const runner = (adminUrl: string, name: Scenario["name"], options: Partial<RunnerOptions>): Scenario => {
  let worker: Runner | undefined
  let drop = async () => {}
  // The round in progress: how many of its jobs are still to complete, and what to call when none is.
  let remaining = 0
  let done = () => {}
  return {
    name,
    setup: async () => {
      const db = await freshDatabase(adminUrl, "cmp_graphile")
      drop = db.drop
      worker = await run({
        ...options,
        connectionString: db.url,
        noHandleSignals: true,
        logger: silent,
        taskList: { trivial: async () => {} }
      })
      worker.events.on("job:complete", ({ error }) => {
        if (error !== undefined && error !== null) throw new Error(`graphile-worker: a job failed: ${String(error)}`)
        if (--remaining === 0) done()
      })
    },
    run: async (n) => {
      const current = worker!
      const start = performance.now()
      remaining = n
      const completed = new Promise<void>((resolve) => {
        done = resolve
      })
      await pooled(n, ENQUEUE_CONCURRENCY, (i) => current.addJob("trivial", { i }))
      await completed
      return (performance.now() - start) / n
    },
    teardown: async () => {
      await worker?.stop()
      await drop()
    }
  }
}

const scenarios = ({ adminUrl }: BenchContext): ReadonlyArray<Scenario> => [
  runner(adminUrl, "queue.2000", {}),
  runner(adminUrl, "queue.2000.batched", batched)
]

export const graphile: System = { name: "graphile", scenarios }
