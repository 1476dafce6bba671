/**
 * Durable children against top-level tasks, on PGlite (a temp folder) and, when DATABASE_URL is set, on a server (a
 * fresh database), from one run:
 * - fan-out and fan-in of N trivial children (one parent, `Children.all`, no bound), children per second, against N
 *   top-level tasks submitted through the runtime in the same run (64 submits at a time, and 256, then every handle
 *   awaited), in rounds whose three runs take turns (medians); target >= 0.8x their rate. Also the median of each
 *   round's own ratio (its runs close together): the machine's speed drifts by 2x between rounds, and a ratio within
 *   a round compares the same minutes; and its floor: the same two writes of each through the store alone;
 * - the same fan-out with a bound of 16 (the rest queued in the store, each end starting the next);
 * - the join latency: from the end of a parent's last child to the parent's body running again, against a `SELECT 1` on
 *   the store's own client in the same run; target: at most two round trips of it. Measured from the child's body
 *   returning (its ending write, then the parent's claim) and from its end recorded (the ending write returned, seen
 *   by a plugin's `onSuccess` hook: the parent's claim only);
 * - the process's RSS while 10 000 children wait in their parent's queue (bound 8, every running one held), against
 *   its RSS before.
 * On the server, the statements sent between the child's return and the parent's body are counted too. Last, what
 * PostgreSQL alone pays for a child's row against a top-level task's (`childRowCost.ts`).
 * Run: npm run bench:children (BENCH_CHILDREN=1000,10000 sets the fan-out sizes, BENCH_ROUNDS=3 the rounds of each
 * size of 10 000 or more; a smaller one gets more, see `roundsOf`).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sql } from "drizzle-orm"
import { Deferred, Effect, Fiber, Layer, Ref, Schema } from "effect"
import { Children, plugin, Runtime, task } from "../src/index.ts"
import { orderedId } from "../src/runtime/internal/ids.ts"
import type { StoreError } from "../src/stores/errors.ts"
import { Db, execute } from "../src/stores/postgres/Db.ts"
import * as PgliteDb from "../src/stores/postgres/PgliteDb.ts"
import * as PgStores from "../src/stores/postgres/PgStores.ts"
import * as PostgresDb from "../src/stores/postgres/PostgresDb.ts"
import { TaskStore } from "../src/stores/TaskStore.ts"
import { childRowCost } from "./childRowCost.ts"
import { freshDatabase } from "./freshDatabase.ts"

const SIZES = (process.env.BENCH_CHILDREN ?? "1000,10000").split(",").map(Number)
const JOINS = 50
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const PENDING = 10_000

/**
 * The rounds of a fan-out of `n`: `ROUNDS` at 10 000 or more, and more for a smaller one, whose runs last a fraction
 * of a second each, so that every size times about as many tasks (a run of 1 000 swung from 0.6x to 1.7x another).
 */
const roundsOf = (n: number) => Math.max(ROUNDS, Math.ceil((ROUNDS * 3_000) / n))

/** Statements the server client has sent (postgres.js `debug`): the join's round trips are counted, not guessed. */
let sent = 0
const countSent = () => {
  sent++
}

const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))

const fanOut = task(
  {
    name: "fan-out",
    input: Schema.Struct({ n: Schema.Number, bound: Schema.optionalKey(Schema.Number) }),
    output: Schema.Number
  },
  ({ n, bound }) =>
    Effect.map(
      Children.all(
        Array.from({ length: n }, (_, i) => Children.spec(trivial, i, { key: `c${i}` })),
        bound === undefined ? {} : { concurrency: bound }
      ),
      (outputs) => outputs.length
    )
)

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const value = yield* effect
    return { value, millis: performance.now() - start }
  })

/** The stores, and the `Db` under them for the `SELECT 1` floor. */
type Stores = PgStores.Stores | Db

/** `n` top-level tasks submitted `atOnce` at a time through the runtime, then every handle awaited. */
const submitAll = (runtime: Runtime.Runtime<never>, n: number, atOnce: number) =>
  Effect.flatMap(
    Effect.forEach(
      Array.from({ length: n }, (_, i) => i),
      (i) => runtime.submit(trivial, i),
      { concurrency: atOnce }
    ),
    (handles) => Effect.forEach(handles, (handle) => handle.await, { concurrency: "unbounded", discard: true })
  )

/**
 * Children per second of one fan-out of `n`, and top-level tasks per second of `n` submits, 64 at a time and 256 at a
 * time, in turns (`ROUNDS` of each, alternating, so that none gets the warmer process or the emptier table): the
 * medians. A fan-out creates 256 children at once (a full statement of the PostgreSQL store); a user may submit 64
 * at a time or 256: the ratio to both is printed.
 */
const fanOutRates = (n: number) =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make({ tasks: [trivial, fanOut] })
    const db = yield* Db
    // Each timed run starts from the same state: the previous run's dead rows vacuumed (not by autovacuum in the middle
    // of a run), and its garbage collected.
    const settled = Effect.andThen(
      execute(db, "vacuum", sql`vacuum waypoint.tasks`),
      Effect.sync(() => global.gc?.())
    )
    const tops: Array<number> = []
    const wideTops: Array<number> = []
    const fans: Array<number> = []
    // the three runs of a round, in an order that turns each round: none always follows the same one
    const runs = [
      () => Effect.map(timed(submitAll(runtime, n, 64)), ({ millis }) => tops.push(millis)),
      () => Effect.map(timed(runtime.run(fanOut, { n })), ({ millis }) => fans.push(millis)),
      () => Effect.map(timed(submitAll(runtime, n, 256)), ({ millis }) => wideTops.push(millis))
    ]
    const rounds = roundsOf(n)
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < runs.length; i++) {
        yield* settled
        yield* (runs[(round + i) % runs.length] as (typeof runs)[number])()
      }
    }
    const bounded = yield* timed(runtime.run(fanOut, { n, bound: 16 }))
    const rate = (millis: number) => Math.round((n / millis) * 1000)
    const fan = median(fans)
    // the ratio of the medians, and the median of each round's own ratio (its runs back to back)
    const against = (reference: ReadonlyArray<number>) => {
      const paired = reference.map((top, i) => top / (fans[i] as number))
      return (
        `${(median(reference) / fan).toFixed(2)} (rounds: ${paired.map((ratio) => ratio.toFixed(2)).join(", ")}; ` +
        `their median ${median(paired).toFixed(2)})`
      )
    }
    if (process.env.BENCH_VERBOSE) {
      console.log("tops", tops.map(Math.round), "fans", fans.map(Math.round), "256", wideTops.map(Math.round))
    }
    console.log(`  ${n} top-level tasks, 64 submits at a time:  ${rate(median(tops))} tasks/s (median of ${rounds})`)
    console.log(`  ${n} top-level tasks, 256 submits at a time: ${rate(median(wideTops))} tasks/s`)
    console.log(`  ${n} children, one fan-out: ${rate(fan)} children/s (target >= 0.8x top-level)`)
    console.log(`    ratio to top-level, 64 at a time:  ${against(tops)}`)
    console.log(`    ratio to top-level, 256 at a time: ${against(wideTops)}`)
    console.log(
      `  ${n} children, bound 16: ${rate(bounded.millis)} children/s, ratio to top-level (64 at a time) ${(
        median(tops) / bounded.millis
      ).toFixed(2)}`
    )
  }).pipe(Effect.scoped)

/**
 * The floor of the ratio above: a task's two writes through the store alone (created claimed, then completed), for
 * `n` top-level tasks and for `n` children of one parent, 64 creates at a time, in turns (medians). A child's row is in one
 * index more than a top-level task's (its parent's children, unique by key), and each of its writes updates it.
 */
const storeRates = (n: number) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    const lease = { owner: "bench", expiresAt: Date.now() + 3_600_000 }
    // as the runtime does: 64 creates at a time, each one's end written while the next ones are created
    const write = (i: number, parentId: string | undefined) =>
      Effect.flatMap(
        store.create({
          id: orderedId(),
          name: "trivial",
          input: i,
          parentId,
          childKey: parentId === undefined ? undefined : `c${i}`,
          lease
        }),
        (record) =>
          Effect.forkDetach(store.finish(record.id, record.fencingToken, { _tag: "Completed", output: i + 1 }))
      )
    const writeAll = (parentId: string | undefined) =>
      Effect.flatMap(
        Effect.forEach(
          Array.from({ length: n }, (_, i) => i),
          (i) => write(i, parentId),
          { concurrency: 64 }
        ),
        Fiber.joinAll
      )
    const tops: Array<number> = []
    const kids: Array<number> = []
    for (let round = 0; round < ROUNDS; round++) {
      tops.push((yield* timed(writeAll(undefined))).millis)
      const parent = yield* store.create({ id: orderedId(), name: "fan-out", input: { n } })
      kids.push((yield* timed(writeAll(parent.id))).millis)
    }
    const rate = (millis: number) => Math.round((n / millis) * 1000)
    console.log(
      `  the floor, the store alone (created claimed, then completed): ${rate(median(tops))} top-level tasks/s, ` +
        `${rate(median(kids))} children/s, ratio ${(median(tops) / median(kids)).toFixed(2)}`
    )
  })

/** From a last child's return to its parent's body running again, against a `SELECT 1`, in turns. */
const joinLatency = Effect.gen(function* () {
  const db = yield* Db
  const gate = yield* Ref.make<Deferred.Deferred<void> | undefined>(undefined)
  const returnedAt = yield* Ref.make(0)
  const recordedAt = yield* Ref.make(0)
  const resumedAt = yield* Ref.make(0)
  let sentAtReturn = 0
  let sentAtResume = 0
  // runs once the child's ending write has returned
  const recorded = plugin({
    name: "recorded",
    layer: Layer.empty,
    hooks: {
      onSuccess: (info) => (info.name === "last" ? Ref.set(recordedAt, performance.now()) : Effect.void)
    }
  })
  const last = task({ name: "last", input: Schema.Void }, () =>
    Effect.gen(function* () {
      const opened = yield* Ref.get(gate)
      if (opened !== undefined) yield* Deferred.await(opened)
      yield* Ref.set(returnedAt, performance.now())
      sentAtReturn = sent
    })
  )
  const parent = task({ name: "joins", input: Schema.Number }, (round) =>
    Effect.gen(function* () {
      yield* Ref.set(resumedAt, performance.now())
      sentAtResume = sent
      yield* Children.all([Children.spec(last, undefined, { key: `last-${round}` })])
    })
  )
  const runtime = yield* Runtime.make({ tasks: [last, parent], plugins: [recorded] })
  const joins: Array<number> = []
  const claims: Array<number> = []
  const selects: Array<number> = []
  const roundTrips: Array<number> = []
  // the floor of a write: one row updated and committed, as a claim is
  const writes: Array<number> = []
  yield* execute(db, "floor", sql`create table if not exists bench_floor (id int primary key, n int)`)
  yield* execute(db, "floor", sql`insert into bench_floor values (1, 0) on conflict do nothing`)
  for (let round = 0; round < JOINS; round++) {
    const opened = yield* Deferred.make<void>()
    yield* Ref.set(gate, opened)
    const handle = yield* runtime.submit(parent, round)
    // wait until the parent waits for its child
    while ((yield* handle.status) !== "suspended") yield* Effect.sleep(1)
    yield* Deferred.succeed(opened, undefined)
    yield* handle.await
    joins.push((yield* Ref.get(resumedAt)) - (yield* Ref.get(returnedAt)))
    claims.push((yield* Ref.get(resumedAt)) - (yield* Ref.get(recordedAt)))
    roundTrips.push(sentAtResume - sentAtReturn)
    selects.push((yield* timed(execute(db, "select", sql`select 1`))).millis)
    writes.push((yield* timed(execute(db, "floor", sql`update bench_floor set n = n + 1 where id = 1`))).millis)
  }
  const join = median(joins)
  const claim = median(claims)
  const select = median(selects)
  const write = median(writes)
  console.log(
    `  join latency, median; SELECT 1: ${select.toFixed(3)} ms (target <= 2 round trips of it); ` +
      `a one-row UPDATE: ${write.toFixed(3)} ms\n` +
      `    last child's return -> parent's body (its end written, the parent claimed): ${join.toFixed(3)} ms, ` +
      `ratio ${(join / select).toFixed(2)} (${(join / write).toFixed(2)} UPDATEs)\n` +
      `    last child's end recorded -> parent's body (the parent claimed): ${claim.toFixed(3)} ms, ` +
      `ratio ${(claim / select).toFixed(2)} (${(claim / write).toFixed(2)} UPDATEs)` +
      (sent > 0
        ? `\n    statements sent from the child's return to the parent's body: median ${median(roundTrips)}, ` +
          `most ${Math.max(...roundTrips)} (target <= 2)`
        : "")
  )
}).pipe(Effect.scoped)

/** The process's RSS before and while `PENDING` children wait in their parent's queue. */
const pendingMemory = Effect.gen(function* () {
  const gates = yield* Deferred.make<void>()
  const held = task({ name: "held", input: Schema.Number }, () => Deferred.await(gates))
  const parent = task({ name: "holds", input: Schema.Void }, () =>
    Effect.asVoid(
      Children.all(
        Array.from({ length: PENDING }, (_, i) => Children.spec(held, i, { key: `h${i}` })),
        { concurrency: 8 }
      )
    )
  )
  const runtime = yield* Runtime.make({ tasks: [held, parent] })
  global.gc?.()
  const before = process.memoryUsage().rss
  const handle = yield* runtime.submit(parent, undefined)
  while ((yield* handle.status) !== "suspended") yield* Effect.sleep(10)
  global.gc?.()
  const waiting = process.memoryUsage().rss
  yield* Effect.sleep(2000)
  global.gc?.()
  const later = process.memoryUsage().rss
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1)
  console.log(
    `  RSS with ${PENDING} children queued (8 running, held): before ${mb(before)} MB, once waiting ${mb(
      waiting
    )} MB, 2 s later ${mb(later)} MB`
  )
  yield* Deferred.succeed(gates, undefined)
  yield* runtime.cancel(handle.id)
}).pipe(Effect.scoped)

/** `layer(true)`: the stores on a client that counts the statements it sends (which costs each a stack trace). */
const run = (name: string, layer: (counting: boolean) => Layer.Layer<Stores, StoreError>) =>
  Effect.gen(function* () {
    console.log(name)
    for (const n of SIZES) {
      yield* fanOutRates(n).pipe(Effect.provide(layer(false)))
      yield* storeRates(n).pipe(Effect.provide(layer(false)))
    }
    yield* joinLatency.pipe(Effect.provide(layer(true)))
    yield* pendingMemory.pipe(Effect.provide(layer(false)))
    yield* childRowCost(Math.max(...SIZES), ROUNDS).pipe(Effect.provide(layer(false)))
  })

const program = Effect.gen(function* () {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-bench-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  const pglite = Layer.provideMerge(PgStores.layer, PgliteDb.layer({ dataDir: join(dir, "data") }))
  yield* run("PGlite (temp folder)", () => pglite)
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined) {
    console.log("Postgres: skipped (DATABASE_URL not set)")
    return
  }
  const url = yield* freshDatabase(adminUrl)
  yield* run("Postgres (postgres.js -> server)", (counting) =>
    Layer.provideMerge(PgStores.layer, PostgresDb.layer({ url, connection: counting ? { debug: countSent } : {} }))
  )
}).pipe(Effect.scoped)

Effect.runPromise(program)
