/**
 * One life of a DBOS process, for the restart scenario (see ../restart.ts).
 *   node dbosLife.ts crash <systemDatabaseUrl> <workflowId>
 *     runs a two-step workflow; step 1 is recorded, step 2 SIGKILLs the process.
 *   node dbosLife.ts resume <systemDatabaseUrl> <workflowId>
 *     launches DBOS, which recovers the pending workflow, and prints `{ "importedAt", "stepAt" }` (wall clock ms:
 *     its modules loaded, step 2 running again); then lets the workflow end.
 */
import { DBOS } from "@dbos-inc/dbos-sdk"
import { wallClock } from "../scenario.ts"

const importedAt = wallClock()
const [mode, url, id] = process.argv.slice(2)
if (mode === undefined || url === undefined || id === undefined) {
  throw new Error("usage: dbosLife.ts <crash|resume> <systemDatabaseUrl> <workflowId>")
}

let stepped: (at: number) => void = () => {}
const resumedAt = new Promise<number>((resolve) => {
  stepped = resolve
})
const resumable = DBOS.registerWorkflow(
  async () => {
    const one = await DBOS.runStep(async () => 1, { name: "s1" })
    const two = await DBOS.runStep(
      async () => {
        if (mode === "crash") process.kill(process.pid, "SIGKILL")
        stepped(wallClock())
        return 2
      },
      { name: "s2" }
    )
    return one + two
  },
  { name: "resumable" }
)

DBOS.setConfig({ name: "cmp-restart", systemDatabaseUrl: url, logLevel: "error" })
await DBOS.launch()
if (mode === "crash") {
  await DBOS.startWorkflow(resumable, { workflowID: id })()
  await new Promise(() => {}) // step 2 ends this process
}
const stepAt = await resumedAt
await DBOS.retrieveWorkflow(id).getResult()
console.log(JSON.stringify({ importedAt, stepAt }))
await DBOS.shutdown()
process.exit(0)
