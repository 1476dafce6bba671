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
 * The sequential latencies are taken in turns with the raw INSERT, one sample each per round, so that a ratio compares
 * the same minutes of the machine: this disk's flush time drifts by a third from one minute to the next.
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
import type { LeaseLost, StoreError, TaskIdTaken } from "../src/stores/errors.ts"
import { Driver } from "../src/stores/postgres/Driver.ts"
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

/**
 * Medians of several operations measured in turns: `WARMUP` unmeasured rounds, then `OPS` rounds that each time every
 * operation once, in order. Taken in turns, a ratio of two of them compares the same minutes of a machine whose disk
 * flushes vary from one minute to the next.
 */
const interleaved = <K extends string, E, R>(ops: Record<K, (i: number) => Effect.Effect<unknown, E, R>>) =>
  Effect.gen(function* () {
    const names = Object.keys(ops) as Array<K>
    for (let i = 0; i < WARMUP; i++) for (const name of names) yield* ops[name](-1 - i)
    const samples = new Map<K, Array<number>>(names.map((name) => [name, []]))
    for (let i = 0; i < OPS; i++) {
      for (const name of names) samples.get(name)?.push(yield* timed(ops[name](i)))
    }
    return Object.fromEntries(names.map((name) => [name, median(samples.get(name) ?? [])])) as Record<K, number>
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

/** The task store's sequential operations, each in turns with the raw INSERT (`raw`). */
const storeRun = (raw: Insert) =>
  Effect.gen(function* () {
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
    const sequential = yield* interleaved({
      raw: () => raw.insert,
      claimFinish: (i) => claimFinish(`cf${i}`),
      createClaimFinish: (i) => createClaimFinish(`ccf${i}`),
      createClaimedFinish: (i) => createClaimedFinish(`cdf${i}`)
    })
    const throughput = (
      prefix: string,
      run: (id: string) => Effect.Effect<unknown, StoreError | TaskIdTaken | LeaseLost>
    ) =>
      timed(
        Effect.forEach(
          Array.from({ length: THROUGHPUT_TASKS }, (_, i) => `${prefix}${i}`),
          run,
          { concurrency: CONCURRENCY, discard: true }
        )
      )
    const throughputMs = yield* throughput("tp", createClaimFinish)
    const claimedThroughputMs = yield* throughput("tc", createClaimedFinish)
    return { sequential, throughputMs, claimedThroughputMs }
  })

/** A step checkpoint: one step result (200 B) and one state key, fenced by the attempt's token, one after another. */
const checkpointRun = (raw: Insert) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    const steps = yield* StepStore
    yield* store.create({ id: "checkpoints", name: "bench", input: null })
    const claimed = yield* store.claim("checkpoints", { owner: "bench", expiresAt: Number.MAX_SAFE_INTEGER })
    const token = Option.getOrThrow(claimed).fencingToken
    const value = { note: "x".repeat(186) }
    const checkpoint = (i: number) =>
      steps.checkpoint({
        taskId: "checkpoints",
        token,
        key: `step:${i}`,
        value,
        state: { scope: "task:checkpoints", entries: new Map([["lastStep", { value: i }]]) }
      })
    const prepared = raw.insertPrepared
    return prepared === undefined
      ? { ...(yield* interleaved({ raw: () => raw.insert, checkpoint })), prepared: undefined }
      : yield* interleaved({ raw: () => raw.insert, prepared: () => prepared, checkpoint })
  })

/**
 * Medians of `LATEST_READS` reads of the latest snapshot of a task with a short and of one with a long history, from
 * one store, the two reads in turns (which one goes first alternating) so that both see the same machine.
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
    // which read goes first alternates, so that neither always follows the other
    if (i % 2 === 0) short.push(yield* timed(read("short")))
    long.push(yield* timed(read("long")))
    if (i % 2 === 1) short.push(yield* timed(read("short")))
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
    const insert = yield* raw
    yield* insert.setup
    const { run, latest, checkpoint, submitted } = yield* Effect.provide(
      Effect.all({
        run: storeRun(insert),
        latest: latestSnapshotRun,
        checkpoint: checkpointRun(insert),
        submitted: runtimeRun
      }),
      layer
    )
    const ms = (x: number) => `${x.toFixed(3)} ms`
    const ratio = (x: number, to: number) => (x / to).toFixed(2)
    console.log(label)
    console.log("  each line's ratio compares medians taken in turns with that line's raw INSERT")
    console.log(`  raw INSERT of 200 B jsonb, median:       ${ms(checkpoint.raw)}`)
    if (checkpoint.prepared !== undefined)
      console.log(`  same, as a named prepared statement:    ${ms(checkpoint.prepared)}`)
    console.log(
      `  step checkpoint (result + state, fenced), median: ${ms(checkpoint.checkpoint)}  ratio to raw insert: ${ratio(checkpoint.checkpoint, checkpoint.raw)} (target <= 1.5)${
        checkpoint.prepared === undefined
          ? ""
          : `, to the prepared one: ${ratio(checkpoint.checkpoint, checkpoint.prepared)}`
      }`
    )
    const { sequential } = run
    console.log(`  raw INSERT, in turns with the task store:  ${ms(sequential.raw)}`)
    console.log(
      `  claim+finish, median:                    ${ms(sequential.claimFinish)}  ratio to raw insert: ${ratio(sequential.claimFinish, sequential.raw)}`
    )
    console.log(
      `  create->claim->finish, median:           ${ms(sequential.createClaimFinish)}  ratio to raw insert: ${ratio(sequential.createClaimFinish, sequential.raw)}`
    )
    console.log(
      `  create claimed->finish, median:          ${ms(sequential.createClaimedFinish)}  ratio to raw insert: ${ratio(sequential.createClaimedFinish, sequential.raw)}`
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
