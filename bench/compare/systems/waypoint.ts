/**
 * Waypoint through its public API, as a user writes it: tasks made with `task`, steps with `step` under
 * `StatePlugin`, run by `runtime.run` / `runtime.submit` on `PostgresStore` (a fresh database), on the memory store,
 * and, for a restart, on `PgliteStore` (a temp folder).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Fiber, Layer, Schema, Scope, Stream } from "effect"
import { MemoryStore, Runtime, StatePlugin, step, TaskStore, task } from "../../../src/index.ts"
import { PostgresStore } from "../../../src/postgres.ts"
import { crashThenResume } from "../restart.ts"
import {
  type BenchContext,
  ENQUEUE_CONCURRENCY,
  freshDatabase,
  perOp,
  type Scenario,
  type System
} from "../scenario.ts"

/** A task of `n` steps, each `step(name, Effect.succeed(i))`. */
const steps = task({ name: "steps", input: Schema.Number, output: Schema.Number }, (n) =>
  Effect.gen(function* () {
    let last = 0
    for (let i = 0; i < n; i++) last = yield* step(`s${i}`, Effect.succeed(i))
    return last
  })
)
const empty = task({ name: "empty", input: Schema.Void }, () => Effect.void)
const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))

type Stores = Layer.Success<typeof MemoryStore.layer> | Layer.Success<ReturnType<typeof PostgresStore.layer>>

/** Stores and two runtimes on them (with `StatePlugin` and without plugins), alive until `close`. */
interface Opened {
  readonly stateful: Runtime.Runtime<Layer.Success<ReturnType<typeof StatePlugin.make>["layer"]>>
  readonly bare: Runtime.Runtime<never>
  readonly store: TaskStore["Service"]
  readonly close: () => Promise<void>
}

const open = async (
  stores: Layer.Layer<TaskStore | Stores, unknown>,
  worker?: Runtime.WorkerOptions
): Promise<Opened> => {
  const scope = Scope.makeUnsafe()
  const opened = Effect.gen(function* () {
    const context = yield* Layer.buildWithScope(stores, scope)
    return yield* Effect.gen(function* () {
      const stateful = yield* Runtime.make({ plugins: [StatePlugin.make()], tasks: [steps, empty] })
      const bare = yield* Runtime.make({ tasks: [empty, trivial], worker })
      return { stateful, bare, store: yield* TaskStore }
    }).pipe(Effect.provideContext(context), Scope.provide(scope))
  })
  const runtimes = await Effect.runPromise(opened)
  return { ...runtimes, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** A store opened by the first setup of the scenarios sharing it and closed by their last teardown. */
const shared = (make: () => Promise<Opened & { readonly drop?: () => Promise<void> }>) => {
  let opened: (Opened & { readonly drop?: () => Promise<void> }) | undefined
  let users = 0
  return {
    setup: async () => {
      if (users++ === 0) opened = await make()
    },
    teardown: async () => {
      if (--users > 0) return
      await opened?.close()
      await opened?.drop?.()
    },
    get: () => {
      if (opened === undefined) throw new Error("waypoint: a scenario ran before its setup")
      return opened
    }
  }
}

/** `n` trivial tasks submitted `ENQUEUE_CONCURRENCY` at a time, then all awaited: ms per task. */
const submitted = (runtime: Runtime.Runtime<never>, n: number, concurrency: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const start = performance.now()
      const handles = yield* Effect.forEach(
        Array.from({ length: n }, (_, i) => i),
        (i) => runtime.submit(trivial, i),
        { concurrency }
      )
      yield* Effect.forEach(handles, (handle) => handle.await, { discard: true })
      return (performance.now() - start) / n
    })
  )

let foundRound = 0
/** `n` trivial tasks created in the store (`TaskStore.create`) and found, run and completed by a worker runtime. */
const foundByWorker = (opened: Opened, n: number) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const round = foundRound++
      const completed = opened.bare.subscribe().pipe(
        Stream.filter((event) => event._tag === "StatusChanged" && event.status === "completed"),
        Stream.take(n),
        Stream.runDrain
      )
      const start = performance.now()
      const done = yield* Effect.forkChild(completed, { startImmediately: true })
      yield* Effect.forEach(
        Array.from({ length: n }, (_, i) => i),
        (i) => opened.store.create({ id: `found-${round}-${i}`, name: "trivial", input: i }),
        { concurrency: ENQUEUE_CONCURRENCY, discard: true }
      )
      yield* Fiber.join(done)
      return (performance.now() - start) / n
    })
  )

const lifeScript = fileURLToPath(new URL("../processes/waypointLife.ts", import.meta.url))

const scenarios = ({ adminUrl }: BenchContext): ReadonlyArray<Scenario> => {
  const server = shared(async () => {
    const db = await freshDatabase(adminUrl, "cmp_waypoint")
    return { ...(await open(PostgresStore.layer({ url: db.url }))), drop: db.drop }
  })
  const worker = shared(async () => {
    const db = await freshDatabase(adminUrl, "cmp_waypoint_worker")
    return { ...(await open(PostgresStore.layer({ url: db.url }), { concurrency: 100 })), drop: db.drop }
  })
  const memory = shared(() => open(MemoryStore.layer))
  const stepsPer = (opened: () => Opened) => async (n: number) => {
    const start = performance.now()
    await Effect.runPromise(opened().stateful.run(steps, n))
    return (performance.now() - start) / n
  }

  let restartDrop = async () => {}
  let restartUrl = ""
  let pgliteDir = ""
  let restarts = 0
  return [
    { name: "step.server", ...server, run: stepsPer(server.get) },
    { name: "step.memory", ...memory, run: stepsPer(memory.get) },
    {
      name: "empty.server.plugins",
      ...server,
      run: (n) => perOp(n, () => Effect.runPromise(server.get().stateful.run(empty, undefined)))
    },
    {
      name: "empty.server.bare",
      ...server,
      run: (n) => perOp(n, () => Effect.runPromise(server.get().bare.run(empty, undefined)))
    },
    { name: "trivial.memory", ...memory, run: (n) => submitted(memory.get().bare, n, n) },
    { name: "queue.2000", ...worker, run: (n) => submitted(worker.get().bare, n, ENQUEUE_CONCURRENCY) },
    { name: "queue.2000.worker", ...worker, run: (n) => foundByWorker(worker.get(), n) },
    {
      name: "restart.server",
      setup: async () => {
        const db = await freshDatabase(adminUrl, "cmp_waypoint_restart")
        restartUrl = db.url
        restartDrop = db.drop
      },
      run: () =>
        crashThenResume("waypoint restart.server", lifeScript, ["postgres", restartUrl, `resumed-${restarts++}`]),
      teardown: () => restartDrop()
    },
    {
      name: "restart.pglite",
      setup: async () => {
        pgliteDir = await mkdtemp(join(tmpdir(), "cmp-waypoint-"))
      },
      run: () =>
        crashThenResume("waypoint restart.pglite", lifeScript, [
          "pglite",
          join(pgliteDir, "data"),
          `resumed-${restarts++}`
        ]),
      teardown: () => rm(pgliteDir, { recursive: true, force: true })
    }
  ]
}

export const waypoint: System = { name: "waypoint", scenarios }
