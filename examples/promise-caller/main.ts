/**
 * Waypoint from code that does not use Effect: an async function submits tasks, awaits their results, catches a
 * failed task's typed error and cancels a task, all with Promises (`PromiseRuntime`). The tasks themselves are
 * Effect programs; the caller never sees one. Stores on the embedded PGlite folder `--data-dir` (default
 * `.waypoint-promise`).
 */
import { parseArgs } from "node:util"
import { Effect, Schema } from "effect"
import { PromiseRuntime, StatePlugin, step, task } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"

/** Sums the numbers it is given, one recorded step per number. */
const sum = task(
  { name: "sum", input: Schema.Struct({ numbers: Schema.Array(Schema.Number) }), output: Schema.Number },
  ({ numbers }) =>
    Effect.gen(function* () {
      let total = 0
      for (const [i, n] of numbers.entries()) total = yield* step(`add-${i}`, Effect.succeed(total + n))
      return total
    })
)

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { path: Schema.String }) {}

/** Fails with a typed error the caller can read. */
const open = task({ name: "open", input: Schema.Struct({ path: Schema.String }) }, ({ path }) =>
  Effect.fail(new NotFound({ path }))
)

/** Waits for ever, until cancelled. */
const wait = task({ name: "wait", input: Schema.Struct({}) }, () => Effect.never)

const { values } = parseArgs({ options: { "data-dir": { type: "string" } } })

const runtime = await PromiseRuntime.make({
  layer: PgliteStore.layer({ dataDir: values["data-dir"] ?? ".waypoint-promise" }),
  plugins: [StatePlugin.make()],
  tasks: [sum, open, wait]
})
try {
  console.log(`sum: ${await runtime.run(sum, { numbers: [1, 2, 3, 4] })}`)

  const handle = await runtime.submit(sum, { numbers: [10, 20] })
  console.log(`task ${handle.id}: ${await handle.result("30 seconds")}`)

  try {
    await runtime.run(open, { path: "/missing" })
  } catch (error) {
    // A failed task rejects with its typed error: here the task's own `NotFound`.
    if (error instanceof NotFound) console.log(`open failed: ${error._tag} ${error.path}`)
    else throw error
  }

  const waiting = await runtime.submit(wait, {})
  await waiting.cancel()
  console.log(`wait: ${await waiting.status()}`)
} finally {
  await runtime.close()
}
