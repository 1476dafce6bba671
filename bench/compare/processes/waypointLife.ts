/**
 * One life of a Waypoint process, for the restart scenario (see ../restart.ts).
 *   node waypointLife.ts crash <pglite|postgres> <dataDir|url> <taskId>
 *     runs a two-step task; step 1 is recorded, step 2 SIGKILLs the process.
 *   node waypointLife.ts resume <pglite|postgres> <dataDir|url> <taskId>
 *     opens the store, makes the runtime under the same id, recovers, and prints `{ "importedAt", "stepAt" }` (wall
 *     clock ms: its modules loaded, step 2 running again); then lets the task end.
 */
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import { Deferred, Effect, Schema } from "effect"
// The built package, as a user's process loads it (`npm run bench:compare` builds it first)
import { Runtime, StatePlugin, step, task } from "../../../dist/index.js"
import { PgliteStore, PostgresStore } from "../../../dist/postgres.js"
import { wallClock } from "../scenario.ts"

const importedAt = wallClock()
const [mode, kind, location, id] = process.argv.slice(2)
if (mode === undefined || kind === undefined || location === undefined || id === undefined) {
  throw new Error("usage: waypointLife.ts <crash|resume> <pglite|postgres> <dataDir|url> <taskId>")
}
if (kind === "pglite") mkdirSync(dirname(location), { recursive: true })
const stores = kind === "pglite" ? PgliteStore.layer({ dataDir: location }) : PostgresStore.layer({ url: location })

const program = Effect.gen(function* () {
  const resumedAt = yield* Deferred.make<number>()
  const resumable = task({ name: "resumable", input: Schema.Null, output: Schema.Number }, () =>
    Effect.gen(function* () {
      const one = yield* step("s1", Effect.succeed(1))
      const two = yield* step(
        "s2",
        Effect.suspend(() => {
          if (mode === "crash") process.kill(process.pid, "SIGKILL")
          return Effect.as(Deferred.succeed(resumedAt, wallClock()), 2)
        })
      )
      return one + two
    })
  )
  const runtime = yield* Runtime.make({ id: "bench-restart", plugins: [StatePlugin.make()], tasks: [resumable] })
  if (mode === "crash") {
    yield* runtime.run(resumable, null, { id })
    return
  }
  const recovered = yield* runtime.recover
  if (!recovered.includes(id)) return yield* Effect.die(new Error(`task ${id} was not recovered`))
  const stepAt = yield* Deferred.await(resumedAt)
  yield* runtime.handle(resumable, id).await
  console.log(JSON.stringify({ importedAt, stepAt }))
}).pipe(Effect.scoped, Effect.provide(stores))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
