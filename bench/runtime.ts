/**
 * Trivial in-memory tasks per second, submit to completed, against bare Effect fork/join of the same body, and against
 * a floor: the least a recorded task does, written by hand (an id, the input encoded, a record stored, one fiber that
 * decodes the input, runs the body and encodes the output, the record updated, three events kept, a waiter resolved),
 * without what the runtime adds (a store behind an Effect interface, an attempt fiber apart from its driver, services
 * per attempt, cancel, pause and lease bookkeeping).
 * Run: npm run bench. Prints the three rates and their ratios from one run.
 */
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
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

const encodeNumber = Schema.encodeUnknownEffect(Schema.Number)
const decodeNumber = Schema.decodeUnknownEffect(Schema.Number)

const handWrittenFloor = Effect.suspend(() => {
  interface Row {
    readonly id: string
    readonly input: unknown
    readonly status: string
    readonly output?: unknown
    readonly at: number
  }
  const rows = new Map<string, Row>()
  const ring: Array<unknown> = new Array(10_000)
  let seq = 0
  const event = (taskId: string, status: string) => {
    seq++
    ring[seq % ring.length] = { taskId, status, seq, at: Date.now() }
  }
  const encodedValue = (exit: Effect.Effect<unknown, unknown>) =>
    Exit.isExit(exit) && Exit.isSuccess(exit) ? exit.value : undefined
  return Effect.gen(function* () {
    const waiters = []
    for (let i = 0; i < COUNT; i++) {
      const id = crypto.randomUUID()
      rows.set(id, { id, input: encodedValue(encodeNumber(i)), status: "running", at: Date.now() })
      event(id, "pending")
      const waiter = Deferred.makeUnsafe<number>()
      const attempt = Effect.suspend(() => {
        event(id, "running")
        return Effect.flatMap(decodeNumber(i), (n) =>
          Effect.map(body(n), (output) => {
            rows.set(id, {
              id,
              input: i,
              status: "completed",
              output: encodedValue(encodeNumber(output)),
              at: Date.now()
            })
            event(id, "completed")
            Deferred.doneUnsafe(waiter, Exit.succeed(output))
          })
        )
      })
      yield* Effect.forkChild(attempt, { startImmediately: true })
      waiters.push(waiter)
    }
    for (const waiter of waiters) yield* Deferred.await(waiter)
  })
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
  const floor: Array<number> = []
  const waypoint: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    bare.push(yield* time(bareForkJoin))
    floor.push(yield* time(handWrittenFloor))
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
  const floorRate = COUNT / (median(floor) / 1000)
  console.log(`tasks per round: ${COUNT}, rounds: ${ROUNDS} (medians)`)
  console.log(`bare Effect fork/join:          ${Math.round(bareRate).toLocaleString("en")} /s`)
  console.log(
    `hand-written floor:             ${Math.round(floorRate).toLocaleString("en")} /s  (bare / floor: ${(bareRate / floorRate).toFixed(2)}x)`
  )
  console.log(`waypoint submit -> completed:   ${Math.round(waypointRate).toLocaleString("en")} /s`)
  console.log(`ratio bare / waypoint:          ${(bareRate / waypointRate).toFixed(2)}x (target <= 3x, >= 100k/s)`)
  console.log(`ratio floor / waypoint:         ${(floorRate / waypointRate).toFixed(2)}x`)
})

Effect.runPromise(program)
