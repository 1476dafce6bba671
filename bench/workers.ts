/**
 * The runtime over the PostgreSQL stores, on PGlite (a temp folder) and, when DATABASE_URL is set, on a server (a
 * fresh database, dropped after). Prints, from one run:
 *   - an empty task, submit -> completed: median latency (target <= 1 ms on the server), in a plain runtime and in a
 *     worker runtime (which also hears the wake-up of every create and looks for work); on the server also a raw
 *     one-row INSERT in turns with it, the cost of one commit (a durable task commits twice: created, finished);
 *   - 2 000 trivial tasks enqueued (16 at a time) then completed in one process: throughput (target >= 3 000/s),
 *     submitted to the runtime, and created in the store for a worker runtime to find;
 *   - after a crash (the task left `running` under a live lease of this runtime's id, one step recorded): store open
 *     -> first resumed step, median of a few restarts (target <= 100 ms), split into the store's open and the part
 *     after it, in this process (its engine loaded and warm); then the same in a new process after a real SIGKILL of the
 *     one that held the task (bench/restartProcess.ts), which is what a restarted worker waits for; on PGlite also the
 *     open of the bare PGlite client on the same folder (the floor of the store's open in a warm process).
 * Run: node bench/workers.ts (BENCH_OPS sets the sequential samples, 500 by default).
 */
import { spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { Clock, Context, Deferred, Effect, Fiber, Layer, Schema, type Scope, Stream } from "effect"
import postgres from "postgres"
import { Runtime, StatePlugin, step, TaskStore, task } from "../src/index.ts"
import { PgliteStore, PostgresStore } from "../src/postgres.ts"
import type { StoreError } from "../src/stores/errors.ts"
import type { StateStore } from "../src/stores/StateStore.ts"
import { StepStore } from "../src/stores/StepStore.ts"
import { freshDatabase } from "./freshDatabase.ts"

const OPS = Number(process.env.BENCH_OPS ?? 500)
const WARMUP = 50
const THROUGHPUT_TASKS = 2_000
const ENQUEUE_CONCURRENCY = 16
const WORKER_CONCURRENCY = 100
const RESTARTS = 5

type Stores = TaskStore | StepStore | StateStore
type Open = () => Layer.Layer<Stores, StoreError>

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const ms = (x: number) => `${x.toFixed(3)} ms`
const ratioOf = (x: number, to: number) => `${(x / to).toFixed(2)}x`

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* effect
    return performance.now() - start
  })

const empty = task({ name: "empty", input: Schema.Void, output: Schema.Void }, () => Effect.void)
const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))

/**
 * Median of `OPS` sequential submit -> completed of the empty task, after `WARMUP` unmeasured ones; with `commit`, in
 * turns with it (a one-row INSERT on its own connection), whose median comes back too: a durable task commits twice.
 */
const submitLatency = (runtime: Runtime.Runtime<never>, commit?: Effect.Effect<unknown>) =>
  Effect.gen(function* () {
    const once = Effect.flatMap(runtime.submit(empty, undefined), (handle) => handle.await)
    for (let i = 0; i < WARMUP; i++) yield* Effect.andThen(commit ?? Effect.void, once)
    const samples: Array<number> = []
    const commits: Array<number> = []
    for (let i = 0; i < OPS; i++) {
      if (commit !== undefined) commits.push(yield* timed(commit))
      samples.push(yield* timed(once))
    }
    return { taskMs: median(samples), commitMs: commits.length === 0 ? undefined : median(commits) }
  })

/** A one-row INSERT, committed, on a connection of its own to the server at `url`: the cost of one commit. */
const serverCommit = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(url, { max: 1, onnotice: () => {} })),
      (sql) => Effect.promise(() => sql.end())
    )
    yield* Effect.promise(() => sql`create table raw_commit (id serial primary key, data jsonb not null)`)
    return Effect.promise(() => sql`insert into raw_commit (data) values (${"{}"}::jsonb)`)
  })

const inputs = Array.from({ length: THROUGHPUT_TASKS }, (_, i) => i)

/** Tasks per second: `THROUGHPUT_TASKS` submitted, `ENQUEUE_CONCURRENCY` at a time, then all awaited. */
const submitThroughput = (runtime: Runtime.Runtime<never>) =>
  Effect.map(
    timed(
      Effect.gen(function* () {
        const handles = yield* Effect.forEach(inputs, (i) => runtime.submit(trivial, i), {
          concurrency: ENQUEUE_CONCURRENCY
        })
        for (const handle of handles) yield* handle.await
      })
    ),
    (elapsed) => THROUGHPUT_TASKS / (elapsed / 1000)
  )

/** Tasks per second: `THROUGHPUT_TASKS` created in the store, found and completed by a worker runtime. */
const workerThroughput = (store: TaskStore["Service"], worker: Runtime.Runtime<never>) =>
  Effect.gen(function* () {
    const completed = worker.subscribe().pipe(
      Stream.filter((event) => event._tag === "StatusChanged" && event.status === "completed"),
      Stream.take(THROUGHPUT_TASKS),
      Stream.runDrain
    )
    const start = performance.now()
    const done = yield* Effect.forkChild(completed, { startImmediately: true })
    yield* Effect.forEach(inputs, (i) => store.create({ id: `found-${i}`, name: "trivial", input: i }), {
      concurrency: ENQUEUE_CONCURRENCY,
      discard: true
    })
    yield* Fiber.join(done)
    return THROUGHPUT_TASKS / ((performance.now() - start) / 1000)
  })

/**
 * One restart after a crash: the task `resumed` is `running` under a live lease of "bench-restart" with step 1
 * recorded. Opens the store, makes the runtime with that id, recovers, and times the open and the first resumed step.
 */
const restart = (open: Open, round: number) =>
  Effect.gen(function* () {
    const id = `resumed-${round}`
    // the crashed life: created, claimed for a minute, step 1 recorded; then its process is gone (the store closes)
    yield* Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id, name: "resumable", input: null })
      yield* store.claim(id, { owner: "bench-restart", expiresAt: (yield* Clock.currentTimeMillis) + 60_000 })
      yield* (yield* StepStore).putStep(id, "step:s1", 1)
    }).pipe(Effect.provide(open()))

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
    return yield* Effect.scoped(
      Effect.gen(function* () {
        const start = performance.now()
        const context = yield* Layer.build(open())
        const opened = performance.now()
        const runtime = yield* Runtime.make({
          id: "bench-restart",
          plugins: [StatePlugin.make()],
          tasks: [resumable]
        }).pipe(Effect.provideContext(context))
        yield* runtime.recover
        const stepped = yield* Deferred.await(firstResumedStep)
        yield* runtime.handle(resumable, id).await
        return { total: stepped - start, open: opened - start, afterOpen: stepped - opened }
      })
    )
  })

/**
 * A real restart, `RESTARTS` times: a process that claimed a task and recorded step 1 kills itself with SIGKILL, and
 * a new process opens the store and resumes it (bench/restartProcess.ts). Medians of what the new process measured.
 */
const processRestarts = (kind: "pglite" | "postgres", location: string) =>
  Effect.sync(() => {
    const script = new URL("./restartProcess.ts", import.meta.url).pathname
    const life = (mode: "crash" | "resume", id: string) =>
      spawnSync(process.execPath, [script, mode, kind, location, id], { encoding: "utf8" })
    const lives: Array<{ boot: number; open: number; total: number }> = []
    for (let round = 0; round < RESTARTS; round++) {
      const id = `restarted-${round}`
      const crashed = life("crash", id)
      if (crashed.signal !== "SIGKILL") throw new Error(`the crashing process was not killed: ${crashed.stderr}`)
      const resumed = life("resume", id)
      if (resumed.status !== 0) throw new Error(`the restarted process failed: ${resumed.stderr}`)
      lives.push(JSON.parse(resumed.stdout.trim().split("\n").at(-1) ?? "{}"))
    }
    return {
      boot: median(lives.map((l) => l.boot)),
      open: median(lives.map((l) => l.open)),
      total: median(lives.map((l) => l.total))
    }
  })

/** Medians of opening the bare PGlite client on the folder: with the store's 16MB of buffers, and with PGlite's own 128MB. */
const bareOpen = (dataDir: string) =>
  Effect.gen(function* () {
    const asStore = { startParams: [...PGlite.defaultStartParams, "-c", "shared_buffers=16MB"] }
    const samples = { asStore: [] as Array<number>, asPglite: [] as Array<number> }
    for (let round = 0; round < RESTARTS; round++) {
      for (const [name, options] of [
        ["asStore", asStore],
        ["asPglite", {}]
      ] as const) {
        const start = performance.now()
        const client = yield* Effect.promise(() => PGlite.create({ dataDir, ...options }))
        samples[name].push(performance.now() - start)
        yield* Effect.promise(() => client.close())
      }
    }
    return { asStoreMs: median(samples.asStore), asPgliteMs: median(samples.asPglite) }
  })

const report = (label: string, open: Open, options: { readonly dataDir?: string; readonly url?: string } = {}) =>
  Effect.gen(function* () {
    const { dataDir, url } = options
    const { latency, workerLatency, submitted, found } = yield* Effect.scoped(
      Effect.gen(function* () {
        const context = yield* Layer.build(open())
        const commit = url === undefined ? undefined : yield* serverCommit(url)
        const plain = yield* Runtime.make({ tasks: [empty, trivial] }).pipe(Effect.provideContext(context))
        const latency = yield* submitLatency(plain, commit)
        const submitted = yield* submitThroughput(plain)
        const worker = yield* Runtime.make({
          tasks: [empty, trivial],
          worker: { concurrency: WORKER_CONCURRENCY }
        }).pipe(Effect.provideContext(context))
        const workerLatency = yield* submitLatency(worker)
        const found = yield* workerThroughput(Context.get(context, TaskStore), worker)
        return { latency, workerLatency, submitted, found }
      })
    )
    const restarts: Array<{ total: number; open: number; afterOpen: number }> = []
    for (let round = 0; round < RESTARTS; round++) restarts.push(yield* restart(open, round))
    const bareOpenMs = dataDir === undefined ? undefined : yield* bareOpen(dataDir)
    const restarted =
      dataDir !== undefined
        ? yield* processRestarts("pglite", dataDir)
        : url !== undefined
          ? yield* processRestarts("postgres", url)
          : undefined
    console.log(label)
    console.log(
      `  empty task, submit -> completed, median:         ${ms(latency.taskMs)}  (target <= 1 ms on the server)`
    )
    if (latency.commitMs !== undefined) {
      console.log(
        `    one raw single-row INSERT, in turns with it:   ${ms(latency.commitMs)}  (the task commits twice: ${ratioOf(latency.taskMs, latency.commitMs)} of these)`
      )
    }
    console.log(`    same, in a worker runtime:                     ${ms(workerLatency.taskMs)}`)
    console.log(
      `  ${THROUGHPUT_TASKS} trivial tasks, submit -> completed, ${ENQUEUE_CONCURRENCY} submits at a time: ${Math.round(submitted)} tasks/s  (target >= 3000/s)`
    )
    console.log(
      `    same, created in the store, found by a worker (${WORKER_CONCURRENCY} at once): ${Math.round(found)} tasks/s`
    )
    console.log(
      `  store open -> first resumed step, in this process, median of ${RESTARTS}: ${ms(median(restarts.map((r) => r.total)))}  (target <= 100 ms)`
    )
    console.log(`    of which the store's open (client + migration check): ${ms(median(restarts.map((r) => r.open)))}`)
    console.log(`    of which after the open:                       ${ms(median(restarts.map((r) => r.afterOpen)))}`)
    if (restarted !== undefined) {
      console.log(
        `    in a new process after a SIGKILL, median of ${RESTARTS}: ${ms(restarted.total)}  (the open: ${ms(restarted.open)}; the process's start before it: ${ms(restarted.boot)})`
      )
    }
    if (bareOpenMs !== undefined) {
      console.log(
        `  bare PGlite client open on the same folder, median of ${RESTARTS}: ${ms(bareOpenMs.asStoreMs)} with the store's 16MB of buffers, ${ms(bareOpenMs.asPgliteMs)} with PGlite's default 128MB`
      )
    }
  })

const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-bench-workers-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

/** A fresh database next to `adminUrl`'s, dropped with the scope. */
const program = Effect.gen(function* () {
  console.log(`sequential samples: ${OPS} (after ${WARMUP} warm-up)`)
  const dataDir = join(yield* tempDir, "store")
  yield* report("PGlite (temp folder)", () => PgliteStore.layer({ dataDir }), { dataDir })
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined || adminUrl === "") return console.log("Postgres: skipped (DATABASE_URL not set)")
  const url = yield* freshDatabase(adminUrl)
  yield* report("Postgres (postgres.js -> server)", () => PostgresStore.layer({ url }), { url })
}).pipe(Effect.scoped)

Effect.runPromise(program)
