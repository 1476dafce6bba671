/**
 * Two rows of issue 21 the comparison does not cover, from one run:
 * - 1 000 fibers of one task modifying one state key at once (`TaskState.modify`, memory store): microseconds per
 *   update (target <= 5 µs) and whether any update was lost; beside it, the floor: the same 1 000 updates of a `Ref`.
 * - a worker's memory while 100 000 suspended tasks wait in the store (a server at DATABASE_URL, a fresh database):
 *   its RSS before they exist and after it has polled over them for a while (target: growth < 20 MB), with a worker
 *   over an empty store's RSS growth in the same time as the floor.
 * Run: node --expose-gc bench/stateAndIdle.ts (BENCH_SUSPENDED sets how many tasks, 100 000 by default;
 * BENCH_WARMUP how many untimed rounds of each come first, 10 by default).
 */
import { Effect, Fiber, Layer, Ref, Schema } from "effect"
import { MemoryStore, Runtime, StatePlugin, TaskState, TaskStore, task } from "../src/index.ts"
import { PostgresStore } from "../src/postgres.ts"
import { freshDatabase } from "./freshDatabase.ts"

const FIBERS = 1000
const ROUNDS = 7
// Untimed rounds first, for both rows: a cold round times V8 compiling the code, not the code.
const WARMUP = Number(process.env.BENCH_WARMUP ?? 10)
const SUSPENDED = Number(process.env.BENCH_SUSPENDED ?? 100_000)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

/** One task whose body runs FIBERS fibers at once, each adding one to the key `n`; returns µs per update. */
const modifyRound = Effect.gen(function* () {
  const counter = task({ name: "counter", input: Schema.Void, output: Schema.Number }, () =>
    Effect.gen(function* () {
      const state = yield* TaskState
      yield* state.set("n", 0)
      const start = performance.now()
      yield* Effect.all(
        Array.from({ length: FIBERS }, () => state.modify("n", (n) => (n._tag === "Some" ? Number(n.value) : 0) + 1)),
        { concurrency: "unbounded", discard: true }
      )
      const micros = ((performance.now() - start) * 1000) / FIBERS
      const n = Number(yield* state.getOr("n", 0))
      if (n !== FIBERS) return yield* Effect.die(new Error(`lost updates: ${FIBERS - n} of ${FIBERS}`))
      return micros
    })
  )
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
  return yield* runtime.run(counter, undefined)
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

const refRound = Effect.gen(function* () {
  const ref = yield* Ref.make(0)
  const start = performance.now()
  yield* Effect.all(
    Array.from({ length: FIBERS }, () => Ref.update(ref, (n) => n + 1)),
    { concurrency: "unbounded", discard: true }
  )
  return ((performance.now() - start) * 1000) / FIBERS
})

const rssMb = () => {
  ;(globalThis as { gc?: () => void }).gc?.()
  return process.memoryUsage().rss / 2 ** 20
}

/** A worker's RSS growth over `millis` of polling, with `count` suspended tasks in the store (created first). */
const idleWorker = (url: string, count: number, millis: number) =>
  Effect.gen(function* () {
    const waits = task({ name: "waits", input: Schema.Number }, () => Effect.never)
    const store = yield* TaskStore
    // Suspended as a task waiting for a signal is: no runAt, so no claim takes it until a wake.
    const ids = Array.from({ length: count }, (_, i) => `s-${i}`)
    yield* Effect.forEach(
      ids,
      (id) =>
        Effect.andThen(
          store.create({ id, name: "waits", input: 0 }),
          store.suspendIdle(id, { _tag: "WaitingForSignal", signal: "go" })
        ),
      { concurrency: 32, discard: true }
    )
    const before = rssMb()
    const worker = yield* Effect.forkChild(
      Effect.scoped(
        Effect.andThen(Runtime.make({ tasks: [waits], worker: { pollInterval: "100 millis" } }), Effect.never)
      )
    )
    yield* Effect.sleep(millis)
    const after = rssMb()
    yield* Fiber.interrupt(worker)
    return { before, after }
  }).pipe(Effect.provide(Layer.fresh(PostgresStore.layer({ url }))))

const program = Effect.gen(function* () {
  const modify: Array<number> = []
  const refs: Array<number> = []
  for (let round = 0; round < WARMUP; round++) {
    yield* modifyRound
    yield* refRound
  }
  for (let round = 0; round < ROUNDS; round++) {
    modify.push(yield* modifyRound)
    refs.push(yield* refRound)
  }
  const perUpdate = median(modify)
  console.log(
    `${FIBERS} fibers modifying one state key (memory, median of ${ROUNDS} rounds after ${WARMUP} untimed): ` +
      `${perUpdate.toFixed(2)} µs per update, none lost ` +
      `(target <= 5 µs: ${perUpdate <= 5 ? "pass" : "miss"}); floor, Ref.update: ${median(refs).toFixed(2)} µs ` +
      `(${(perUpdate / median(refs)).toFixed(1)}x)`
  )
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined) return console.log("worker RSS with suspended tasks: needs DATABASE_URL, not run")
  const empty = yield* Effect.scoped(Effect.flatMap(freshDatabase(adminUrl), (url) => idleWorker(url, 0, 10_000)))
  const full = yield* Effect.scoped(
    Effect.flatMap(freshDatabase(adminUrl), (url) => idleWorker(url, SUSPENDED, 10_000))
  )
  const growth = full.after - full.before
  console.log(
    `worker RSS over 10 s of polling with ${SUSPENDED} suspended tasks in the store: ${full.before.toFixed(1)} -> ` +
      `${full.after.toFixed(1)} MB, +${growth.toFixed(1)} MB (target < 20 MB: ${growth < 20 ? "pass" : "miss"}); ` +
      `floor, an empty store: +${(empty.after - empty.before).toFixed(1)} MB`
  )
})

Effect.runPromise(program)
