/**
 * Trivial in-memory tasks per second, submit to completed, against bare Effect fork/join of the same body.
 * Run: npm run bench. Prints both rates and their ratio from one run.
 */
import { Effect, Fiber, Schema } from "effect"
import { MemoryTaskStore, Runtime, task } from "../src/index.ts"

const COUNT = Number(process.env.BENCH_TASKS ?? 50_000)
const ROUNDS = 5

const body = (n: number) => Effect.succeed(n + 1)
const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, body)

const time = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* effect
    return performance.now() - start
  })

const bareForkJoin = Effect.gen(function* () {
  const fibers = []
  for (let i = 0; i < COUNT; i++) fibers.push(yield* Effect.forkChild(body(i)))
  for (const fiber of fibers) yield* Fiber.join(fiber)
})

const runtimeSubmitAwait = (runtime: Runtime.Runtime<never>) =>
  Effect.gen(function* () {
    const handles = []
    for (let i = 0; i < COUNT; i++) handles.push(yield* runtime.submit(trivial, i))
    for (const handle of handles) yield* handle.await
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const program = Effect.gen(function* () {
  const bare: Array<number> = []
  const waypoint: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(yield* time(bareForkJoin))
    // A fresh store per round, so the map does not grow across rounds.
    waypoint.push(
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        return yield* time(runtimeSubmitAwait(runtime))
      }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
    )
  }
  const bareRate = COUNT / (median(bare) / 1000)
  const waypointRate = COUNT / (median(waypoint) / 1000)
  console.log(`tasks per round: ${COUNT}, rounds: ${ROUNDS} (medians)`)
  console.log(`bare Effect fork/join:          ${Math.round(bareRate).toLocaleString("en")} /s`)
  console.log(`waypoint submit -> completed:   ${Math.round(waypointRate).toLocaleString("en")} /s`)
  console.log(`ratio bare / waypoint:          ${(bareRate / waypointRate).toFixed(2)}x (target <= 3x, >= 100k/s)`)
})

Effect.runPromise(program)
