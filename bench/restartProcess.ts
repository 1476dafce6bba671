/**
 * One life of a worker process, for bench/workers.ts's restart measurement.
 *   node bench/restartProcess.ts crash <pglite|postgres> <dataDir|url> <taskId>
 *     opens the store, creates the task, claims it under "bench-restart" for a minute, records step 1, then kills
 *     itself with SIGKILL: the store is left as a crash leaves it (on PGlite, with its WAL not checkpointed).
 *   node bench/restartProcess.ts resume <pglite|postgres> <dataDir|url> <taskId>
 *     opens the store, recovers as "bench-restart", runs the task to its end, and prints one JSON line:
 *     { boot, open, total } in ms: process start -> store open begins, the store's open, store open -> step 2 runs.
 */
import { Clock, Deferred, Effect, Layer, Schema } from "effect"
import { Runtime, StatePlugin, step, TaskStore, task } from "../src/index.ts"
import { PgliteStore, PostgresStore } from "../src/postgres.ts"
import { StepStore } from "../src/stores/StepStore.ts"

const [mode, kind, location, id] = process.argv.slice(2)
if (mode === undefined || kind === undefined || location === undefined || id === undefined) {
  throw new Error("usage: restartProcess.ts <crash|resume> <pglite|postgres> <dataDir|url> <taskId>")
}
const open = () =>
  kind === "pglite" ? PgliteStore.layer({ dataDir: location }) : PostgresStore.layer({ url: location })

const crash = Effect.gen(function* () {
  const store = yield* TaskStore
  yield* store.create({ id, name: "resumable", input: null })
  yield* store.claim(id, { owner: "bench-restart", expiresAt: (yield* Clock.currentTimeMillis) + 60_000 })
  yield* (yield* StepStore).putStep(id, "step:s1", 1)
  process.kill(process.pid, "SIGKILL")
}).pipe(Effect.provide(open()))

const resume = Effect.scoped(
  Effect.gen(function* () {
    const firstResumedStep = yield* Deferred.make<number>()
    const resumable = task({ name: "resumable", input: Schema.Null, output: Schema.Number }, () =>
      Effect.gen(function* () {
        const one = yield* step("s1", Effect.succeed(1))
        const two = yield* step(
          "s2",
          Effect.sync(() => performance.now()).pipe(
            Effect.flatMap((now) => Deferred.succeed(firstResumedStep, now)),
            Effect.as(2)
          )
        )
        return one + two
      })
    )
    // performance.now() counts from the process's start.
    const start = performance.now()
    const context = yield* Layer.build(open())
    const opened = performance.now()
    const runtime = yield* Runtime.make({
      id: "bench-restart",
      plugins: [StatePlugin.make()],
      tasks: [resumable]
    }).pipe(Effect.provideContext(context))
    const recovered = yield* runtime.recover
    if (!recovered.includes(id)) return yield* Effect.die(new Error(`task ${id} was not recovered`))
    const stepped = yield* Deferred.await(firstResumedStep)
    yield* runtime.handle(resumable, id).await
    console.log(JSON.stringify({ boot: start, open: opened - start, total: stepped - start }))
  })
)

if (mode === "crash") Effect.runPromise(crash)
else Effect.runPromise(resume)
