/**
 * The PostgreSQL stores against their raw driver, on PGlite (a temp folder) and, when DATABASE_URL is set, on a
 * server (a fresh database, dropped after). Prints, from one run: a step checkpoint's median latency and its ratio to
 * a raw single-row INSERT of 200 B jsonb (the driver's own `query` on PGlite, a postgres.js tagged template, which
 * postgres.js prepares, on the server; on PGlite also the same INSERT as a named prepared statement, as the stores run
 * theirs), claim+finish, create->claim->finish and create-claimed->finish median latencies, 2 000
 * create+claim+finish and create-claimed+finish throughputs, the latest-snapshot read with 10 and with 1 000
 * snapshots in the task's history (the ratio should stay near 1), and 2 000 trivial tasks through a runtime, submit ->
 * completed: submitted N at a time, as a user enqueueing a batch would (`Effect.forEach(inputs, submit,
 * { concurrency: N })`), then every handle awaited (target >= 3 000/s), for each N of `SUBMIT_CONCURRENCIES`.
 * Run: node bench/postgres.ts (BENCH_OPS sets the sequential samples, 1 000 by default).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import { sql } from "drizzle-orm"
import { Effect, type Layer, Option, Schema } from "effect"
import postgres from "postgres"
import { Runtime, task } from "../src/index.ts"
import { PgliteStore, PostgresStore } from "../src/postgres.ts"
import type { LeaseLost, StoreError } from "../src/stores/errors.ts"
import { Driver } from "../src/stores/postgres/Database.ts"
import { SnapshotStore } from "../src/stores/SnapshotStore.ts"
import { StepStore } from "../src/stores/StepStore.ts"
import { TaskStore } from "../src/stores/TaskStore.ts"
import { freshDatabase } from "./freshDatabase.ts"

const OPS = Number(process.env.BENCH_OPS ?? 1_000)
const WARMUP = 100
const THROUGHPUT_TASKS = 2_000
const CONCURRENCY = 16
const payload = JSON.stringify({ note: "x".repeat(186) }) // 200 bytes of JSON
/** How many `submit`s are in flight at once in the runtime measure: one run each. */
const SUBMIT_CONCURRENCIES = [16, 256]
const LATEST_READS = 500
const SHORT_HISTORY = 10
const LONG_HISTORY = 1_000

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* effect
    return performance.now() - start
  })

/** `WARMUP` unmeasured runs, then the median of `OPS` measured ones. */
const medianOf = <E, R>(op: (i: number) => Effect.Effect<unknown, E, R>) =>
  Effect.gen(function* () {
    for (let i = 0; i < WARMUP; i++) yield* op(-1 - i)
    const samples: Array<number> = []
    for (let i = 0; i < OPS; i++) samples.push(yield* timed(op(i)))
    return median(samples)
  })

const tempDir = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-bench-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

interface Insert {
  readonly setup: Effect.Effect<unknown>
  readonly insert: Effect.Effect<unknown>
  /** The same INSERT as a named prepared statement, where `insert` is not one. */
  readonly insertPrepared?: Effect.Effect<unknown, StoreError> | undefined
}

const rawInsertMedians = (raw: Insert) =>
  Effect.gen(function* () {
    yield* raw.setup
    const rawMs = yield* medianOf(() => raw.insert)
    const prepared = raw.insertPrepared
    const preparedMs = prepared === undefined ? undefined : yield* medianOf(() => prepared)
    return { rawMs, preparedMs }
  })

const rawPglite = Effect.gen(function* () {
  const client = yield* Effect.acquireRelease(
    Effect.flatMap(tempDir, (dataDir) => Effect.promise(() => PGlite.create({ dataDir }))),
    (client) => Effect.promise(() => client.close())
  )
  const prepared = Driver.pglite(client).prepare(
    "insert",
    sql`insert into raw_insert (data) values (${payload}::jsonb)`
  )
  return {
    setup: Effect.promise(() => client.exec("create table raw_insert (id serial primary key, data jsonb not null)")),
    insert: Effect.promise(() => client.query("insert into raw_insert (data) values ($1)", [payload])),
    insertPrepared: prepared()
  } satisfies Insert
})

const rawPostgres = (url: string) =>
  Effect.gen(function* () {
    const sql = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(url, { onnotice: () => {} })),
      (sql) => Effect.promise(() => sql.end())
    )
    return {
      setup: Effect.promise(() => sql`create table raw_insert (id serial primary key, data jsonb not null)`),
      insert: Effect.promise(() => sql`insert into raw_insert (data) values (${payload}::jsonb)`)
    } satisfies Insert
  })

const storeRun = Effect.gen(function* () {
  const store = yield* TaskStore
  const lease = { owner: "bench", expiresAt: Number.MAX_SAFE_INTEGER }
  const claimFinish = (id: string) =>
    Effect.flatMap(store.claim(id, lease), (claimed) =>
      Option.isSome(claimed)
        ? store.finish(id, claimed.value.fencingToken, { _tag: "Completed", output: null })
        : Effect.die(new Error(`task ${id} was not claimable`))
    )
  const createClaimFinish = (id: string) =>
    Effect.andThen(store.create({ id, name: "bench", input: null }), claimFinish(id))
  // what a runtime that runs a task at once does: create it claimed, then finish it
  const createClaimedFinish = (id: string) =>
    Effect.flatMap(store.create({ id, name: "bench", input: null, lease }), (created) =>
      store.finish(id, created.fencingToken, { _tag: "Completed", output: null })
    )

  for (let i = -WARMUP; i < OPS; i++) yield* store.create({ id: `cf${i}`, name: "bench", input: null })
  const claimFinishMs = yield* medianOf((i) => claimFinish(`cf${i}`))
  const createClaimFinishMs = yield* medianOf((i) => createClaimFinish(`ccf${i}`))
  const createClaimedFinishMs = yield* medianOf((i) => createClaimedFinish(`cdf${i}`))
  const throughput = (prefix: string, run: (id: string) => Effect.Effect<unknown, StoreError | LeaseLost>) =>
    timed(
      Effect.forEach(
        Array.from({ length: THROUGHPUT_TASKS }, (_, i) => `${prefix}${i}`),
        run,
        { concurrency: CONCURRENCY, discard: true }
      )
    )
  const throughputMs = yield* throughput("tp", createClaimFinish)
  const claimedThroughputMs = yield* throughput("tc", createClaimedFinish)
  return { claimFinishMs, createClaimFinishMs, createClaimedFinishMs, throughputMs, claimedThroughputMs }
})

/** A step checkpoint: one step result (200 B) and one state key, fenced by the attempt's token, one after another. */
const checkpointRun = Effect.gen(function* () {
  const store = yield* TaskStore
  const steps = yield* StepStore
  yield* store.create({ id: "checkpoints", name: "bench", input: null })
  const claimed = yield* store.claim("checkpoints", { owner: "bench", expiresAt: Number.MAX_SAFE_INTEGER })
  const token = Option.getOrThrow(claimed).fencingToken
  const value = { note: "x".repeat(186) }
  return yield* medianOf((i) =>
    steps.checkpoint({
      taskId: "checkpoints",
      token,
      key: `step:${i}`,
      value,
      state: { scope: "task:checkpoints", entries: new Map([["lastStep", { value: i }]]) }
    })
  )
})

/**
 * Medians of `LATEST_READS` reads of the latest snapshot of a task with a short and of one with a long history, from
 * one store, the two reads alternating so that both see the same machine.
 */
const latestSnapshotRun = Effect.gen(function* () {
  const store = yield* SnapshotStore
  const data = { note: "x".repeat(186) }
  for (const [taskId, count] of [
    ["short", SHORT_HISTORY],
    ["long", LONG_HISTORY]
  ] as const) {
    for (let i = 0; i < count; i++) yield* store.save({ taskId, data, checkpoint: i % 10 === 0 })
  }
  const read = (taskId: string) =>
    Effect.flatMap(store.latest(taskId), (latest) =>
      Option.isSome(latest) ? Effect.void : Effect.die(new Error(`task ${taskId} has no snapshot`))
    )
  for (let i = 0; i < WARMUP; i++) yield* Effect.andThen(read("short"), read("long"))
  const short: Array<number> = []
  const long: Array<number> = []
  for (let i = 0; i < LATEST_READS; i++) {
    short.push(yield* timed(read("short")))
    long.push(yield* timed(read("long")))
  }
  return { shortMs: median(short), longMs: median(long) }
})

const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))

/**
 * Milliseconds for `THROUGHPUT_TASKS` trivial tasks through a runtime, submitted N at a time, then all awaited, for
 * each N of `SUBMIT_CONCURRENCIES`; after one unmeasured round (the JIT, the batched statements' first plans).
 */
const runtimeRun = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ tasks: [trivial] })
  const inputs = Array.from({ length: THROUGHPUT_TASKS }, (_, i) => i)
  const round = (concurrency: number) =>
    timed(
      Effect.gen(function* () {
        const handles = yield* Effect.forEach(inputs, (i) => runtime.submit(trivial, i), { concurrency })
        yield* Effect.forEach(handles, (handle) => handle.await, { discard: true })
      })
    )
  yield* round(Math.max(...SUBMIT_CONCURRENCIES))
  const elapsed: Array<readonly [number, number]> = []
  for (const concurrency of SUBMIT_CONCURRENCIES) elapsed.push([concurrency, yield* round(concurrency)])
  return elapsed
})

const report = <R>(
  label: string,
  raw: Effect.Effect<Insert, never, R>,
  layer: Layer.Layer<TaskStore | SnapshotStore | StepStore, StoreError>
) =>
  Effect.gen(function* () {
    const { rawMs, preparedMs } = yield* Effect.flatMap(raw, rawInsertMedians)
    const { run, latest, checkpointMs, submitted } = yield* Effect.provide(
      Effect.all({ run: storeRun, latest: latestSnapshotRun, checkpointMs: checkpointRun, submitted: runtimeRun }),
      layer
    )
    const ms = (x: number) => `${x.toFixed(3)} ms`
    console.log(label)
    console.log(`  raw INSERT of 200 B jsonb, median:       ${ms(rawMs)}`)
    if (preparedMs !== undefined) console.log(`  same, as a named prepared statement:    ${ms(preparedMs)}`)
    console.log(
      `  step checkpoint (result + state, fenced), median: ${ms(checkpointMs)}  ratio to raw insert: ${(checkpointMs / rawMs).toFixed(2)} (target <= 1.5)${
        preparedMs === undefined ? "" : `, to the prepared one: ${(checkpointMs / preparedMs).toFixed(2)}`
      }`
    )
    console.log(
      `  claim+finish, median:                    ${ms(run.claimFinishMs)}  ratio to raw insert: ${(run.claimFinishMs / rawMs).toFixed(2)}`
    )
    console.log(
      `  create->claim->finish, median:           ${ms(run.createClaimFinishMs)}  ratio to raw insert: ${(run.createClaimFinishMs / rawMs).toFixed(2)}`
    )
    console.log(
      `  create claimed->finish, median:          ${ms(run.createClaimedFinishMs)}  ratio to raw insert: ${(run.createClaimedFinishMs / rawMs).toFixed(2)}`
    )
    const perSecond = (elapsedMs: number) => Math.round(THROUGHPUT_TASKS / (elapsedMs / 1000))
    console.log(
      `  ${THROUGHPUT_TASKS} create+claim+finish, ${CONCURRENCY} at a time: ${perSecond(run.throughputMs)} tasks/s (${ms(run.throughputMs)})`
    )
    console.log(
      `  ${THROUGHPUT_TASKS} create claimed+finish, ${CONCURRENCY} at a time: ${perSecond(run.claimedThroughputMs)} tasks/s (${ms(run.claimedThroughputMs)})`
    )
    for (const [concurrency, elapsedMs] of submitted) {
      console.log(
        `  ${THROUGHPUT_TASKS} trivial tasks through a runtime, submit -> completed, ${concurrency} submits at a time: ${perSecond(elapsedMs)} tasks/s (${ms(elapsedMs)}, target >= 3000/s)`
      )
    }
    console.log(`  latest snapshot, ${SHORT_HISTORY} in history, median:    ${ms(latest.shortMs)}`)
    console.log(
      `  latest snapshot, 1 000 in history, median: ${ms(latest.longMs)}  ratio to ${SHORT_HISTORY}: ${(latest.longMs / latest.shortMs).toFixed(2)} (target <= 1.2)`
    )
  }).pipe(Effect.scoped)

/** A fresh database next to `adminUrl`'s, dropped with the scope. */
const program = Effect.gen(function* () {
  console.log(`sequential samples: ${OPS} (after ${WARMUP} warm-up), medians`)
  const dataDir = join(yield* tempDir, "store")
  yield* report("PGlite (temp folder)", rawPglite, PgliteStore.layer({ dataDir }))
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined || adminUrl === "") return console.log("Postgres: skipped (DATABASE_URL not set)")
  const url = yield* freshDatabase(adminUrl)
  yield* report("Postgres (postgres.js -> server)", rawPostgres(url), PostgresStore.layer({ url }))
}).pipe(Effect.scoped)

Effect.runPromise(program)
