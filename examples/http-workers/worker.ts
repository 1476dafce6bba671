/**
 * A worker process of the HTTP + workers example: it claims `render` tasks from the PostgreSQL server at
 * DATABASE_URL and runs them, until SIGTERM or SIGINT. Start as many as you like, on as many machines.
 */
import { Effect, Layer } from "effect"
import { Runtime } from "../../src/index.ts"
import { PostgresStore } from "../../src/postgres.ts"
import { plugins, tasks } from "./tasks.ts"

const url = process.env.DATABASE_URL
if (url === undefined || url === "") {
  process.stderr.write("DATABASE_URL must name the PostgreSQL server the workers share\n")
  process.exit(2)
}

const worker = Effect.gen(function* () {
  const runtime = yield* Runtime.make({
    id: `worker-${process.pid}`,
    plugins,
    tasks,
    worker: { concurrency: 4, pollInterval: "100 millis" }
  })
  yield* Effect.sync(() => process.stdout.write(`worker ${runtime.id} ready\n`))
  // Runs until the signal below closes the scope: running tasks go back to pending for another worker.
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(Layer.fresh(PostgresStore.layer({ url }))))

const controller = new AbortController()
for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => controller.abort())
Effect.runPromiseExit(worker, { signal: controller.signal }).then((exit) => {
  if (exit._tag === "Failure" && !controller.signal.aborted) {
    process.stderr.write(`${String(exit.cause)}\n`)
    process.exit(1)
  }
  process.exit(0)
})
