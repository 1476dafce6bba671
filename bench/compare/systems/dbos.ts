/**
 * DBOS Transact (`@dbos-inc/dbos-sdk` 5.x) on a system database of its own (DBOS migrates it at launch): a workflow of
 * N steps (`DBOS.runStep`), an empty workflow, trivial workflows through a queue (`DBOS.registerQueue`, defaults), and
 * a new process after SIGKILL (../processes/dbosLife.ts). DBOS is one instance per process: every scenario here shares
 * one launch, made by the first setup and shut down by the last teardown.
 */
import { fileURLToPath } from "node:url"
import { DBOS, type WorkflowQueue } from "@dbos-inc/dbos-sdk"
import { crashThenResume } from "../restart.ts"
import {
  type BenchContext,
  ENQUEUE_CONCURRENCY,
  freshDatabase,
  perOp,
  pooled,
  type Scenario,
  type System
} from "../scenario.ts"

const lifeScript = fileURLToPath(new URL("../processes/dbosLife.ts", import.meta.url))

const scenarios = ({ adminUrl }: BenchContext): ReadonlyArray<Scenario> => {
  let users = 0
  let drop = async () => {}
  let queue: WorkflowQueue | undefined
  const stepsWorkflow = DBOS.registerWorkflow(
    async (n: number) => {
      let last = 0
      for (let i = 0; i < n; i++) last = await DBOS.runStep(async () => i, { name: `s${i}` })
      return last
    },
    { name: "steps" }
  )
  const emptyWorkflow = DBOS.registerWorkflow(async () => {}, { name: "empty" })
  const trivialWorkflow = DBOS.registerWorkflow(async (i: number) => i + 1, { name: "trivial" })

  const setup = async () => {
    if (users++ > 0) return
    const db = await freshDatabase(adminUrl, "cmp_dbos")
    drop = db.drop
    DBOS.setConfig({ name: "cmp", systemDatabaseUrl: db.url, logLevel: "error" })
    await DBOS.launch()
    queue = await DBOS.registerQueue("cmp")
  }
  const teardown = async () => {
    if (--users > 0) return
    await DBOS.shutdown()
    await drop()
  }

  let restartUrl = ""
  let restartDrop = async () => {}
  let restarts = 0
  return [
    {
      name: "step.server",
      setup,
      teardown,
      run: async (n) => {
        const start = performance.now()
        await stepsWorkflow(n)
        return (performance.now() - start) / n
      }
    },
    { name: "empty.server.bare", setup, teardown, run: (n) => perOp(n, () => emptyWorkflow()) },
    {
      name: "queue.2000",
      setup,
      teardown,
      run: async (n) => {
        const start = performance.now()
        const handles = await pooled(n, ENQUEUE_CONCURRENCY, (i) =>
          DBOS.startWorkflow(trivialWorkflow, { queueName: queue!.name })(i)
        )
        for (const handle of handles) await handle.getResult()
        return (performance.now() - start) / n
      }
    },
    {
      name: "restart.server",
      setup: async () => {
        const db = await freshDatabase(adminUrl, "cmp_dbos_restart")
        restartUrl = db.url
        restartDrop = db.drop
      },
      run: () => crashThenResume("dbos restart.server", lifeScript, [restartUrl, `resumed-${restarts++}`]),
      teardown: () => restartDrop()
    }
  ]
}

export const dbos: System = { name: "dbos", scenarios }
