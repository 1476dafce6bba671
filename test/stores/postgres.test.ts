import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Schema } from "effect"
import postgres from "postgres"
import postgres4 from "postgres4"
import { Children, Runtime, task } from "../../src/index.ts"
import { PostgresStore } from "../../src/postgres.ts"
import { ProgressStore } from "../../src/stores/ProgressStore.ts"
import { Db } from "../../src/stores/postgres/Db.ts"
import * as PgStores from "../../src/stores/postgres/PgStores.ts"
import * as PostgresDb from "../../src/stores/postgres/PostgresDb.ts"
import { SnapshotStore } from "../../src/stores/SnapshotStore.ts"
import { StateStore } from "../../src/stores/StateStore.ts"
import { StepStore } from "../../src/stores/StepStore.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import {
  budgetStoreSuite,
  checkpointSuite,
  progressStoreSuite,
  rateLimitStoreSuite,
  runTreeStoreSuite,
  snapshotStoreSuite,
  stateStoreSuite,
  stepStoreSuite,
  storageBackendSuite,
  taskStoreSuite
} from "../../src/testing.ts"
import { queuedFanOut } from "./postgres/childrenFanOut.ts"
import { pgChildrenSuite } from "./postgres/pgChildrenSuite.ts"
import { pgStoresSuite } from "./postgres/pgStoresSuite.ts"
import { pgTaskStoreSuite } from "./postgres/pgTaskStoreSuite.ts"
import { requestsAcross } from "./postgres/requestsAcross.ts"
import * as TestDatabase from "./postgres/TestDatabase.ts"

const adminUrl = TestDatabase.adminUrl

describe.skipIf(TestDatabase.noServer)("PostgreSQL server: needs DATABASE_URL", () => {
  const database = TestDatabase.shared()
  taskStoreSuite("postgres", database.layer)
  pgTaskStoreSuite("postgres", database.layer)
  pgChildrenSuite("postgres", database.layer)
  // `TestDatabase.layer` empties the database and builds every store; this names the ones the suites use
  const stores = database.layer
  stateStoreSuite("postgres", stores)
  stepStoreSuite("postgres", stores)
  checkpointSuite("postgres", stores)
  snapshotStoreSuite("postgres", stores)
  progressStoreSuite("postgres", stores)
  runTreeStoreSuite("postgres", stores)
  budgetStoreSuite("postgres", stores)
  rateLimitStoreSuite("postgres", stores)
  storageBackendSuite("postgres", stores)
  pgStoresSuite("postgres", stores)

  // The same suites on postgres.js 4, given as a client of the caller's (its types are its own: cast to 3's)
  const v4 = database.layerClient((url) => postgres4(url, { max: 10, onnotice: () => {} }) as unknown as postgres.Sql)
  taskStoreSuite("postgres.js 4", v4)
  pgTaskStoreSuite("postgres.js 4", v4)
  stateStoreSuite("postgres.js 4", v4)
  stepStoreSuite("postgres.js 4", v4)
  checkpointSuite("postgres.js 4", v4)
  snapshotStoreSuite("postgres.js 4", v4)
  progressStoreSuite("postgres.js 4", v4)
  storageBackendSuite("postgres.js 4", v4)
  pgStoresSuite("postgres.js 4", v4)

  describe("PostgresStore", () => {
    /** A store open until the test's scope closes, with its own connections. */
    const open = (database: string) =>
      Effect.map(Layer.build(PostgresStore.layer({ url: database })), Context.get(TaskStore))

    it.effect("opens a fresh database from 4 layers at once, migrating it once", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const stores = yield* Effect.all(
          Array.from({ length: 4 }, () => open(database)),
          { concurrency: "unbounded" }
        )
        yield* Effect.forEach(stores, (store, i) => store.create({ id: `t${i}`, name: "job", input: i }))
        for (const store of stores) assert.strictEqual((yield* store.list({})).items.length, 4)
      })
    )

    it.effect("hands out growing fencing tokens across stores with separate connections", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const [a, b] = [yield* open(database), yield* open(database)]
        const tokens: Array<number> = []
        for (let i = 0; i < 6; i++) {
          const store = i % 2 === 0 ? a : b
          yield* store.create({ id: `t${i}`, name: "job", input: null })
          tokens.push(Option.getOrThrow(yield* store.claim(`t${i}`, { owner: "w", expiresAt: 1 })).fencingToken)
        }
        assert.deepStrictEqual(
          tokens,
          [...tokens].sort((x, y) => x - y)
        )
        assert.strictEqual(new Set(tokens).size, tokens.length)
      })
    )

    it.effect("a batch of claims skips a task another transaction holds, without waiting for it", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const store = yield* open(database)
        for (const id of ["first", "free", "locked"]) yield* store.create({ id, name: "job", input: null })
        const other = yield* Effect.acquireRelease(
          Effect.sync(() => postgres(database, { max: 1, onnotice: () => {} })),
          (sql) => Effect.promise(() => sql.end())
        )
        const locked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        // another worker's transaction holds the row of "locked" until told to end
        const holder = yield* Effect.forkChild(
          Effect.promise(() =>
            other.begin(async (tx) => {
              await tx`select id from waypoint.tasks where id = 'locked' for update`
              Effect.runSync(Deferred.succeed(locked, undefined))
              await Effect.runPromise(Deferred.await(release))
            })
          )
        )
        yield* Deferred.await(locked)
        const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }
        // "first" goes alone; "free" and "locked" queue behind it as one batch. A batch that waited for the lock would
        // never return: the lock is released only after it.
        const claims = yield* Effect.all(
          ["first", "free", "locked"].map((id) => store.claim(id, lease)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(claims.map(Option.isSome), [true, true, false])
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        assert.isTrue(Option.isSome(yield* store.claim("locked", lease)), "claimable once the lock is gone")
      })
    )

    it.effect("keeps every one of 200 compare-and-set increments from two stores with separate connection pools", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const openState = Effect.map(Layer.build(PostgresStore.layer({ url: database })), Context.get(StateStore))
        const stores = [yield* openState, yield* openState]
        let refused = 0
        // read the version, write only on it, read again when another writer got there first
        const increment = (store: StateStore["Service"]) =>
          Effect.gen(function* () {
            while (true) {
              const current = yield* store.get("named:counter", "n")
              const [value, version] = Option.match(current, {
                onNone: () => [0, 0],
                onSome: (entry) => [Number(entry.value), entry.version]
              })
              if (yield* store.compareAndSet("named:counter", "n", version, { value: value + 1 })) return
              refused++
            }
          })
        yield* Effect.all(
          Array.from({ length: 200 }, (_, i) => increment(stores[i % 2]!)),
          { concurrency: "unbounded" }
        )
        const final = Option.getOrThrow(yield* stores[0]!.get("named:counter", "n"))
        assert.deepStrictEqual([final.value, final.version], [200, 200])
        assert.isAbove(refused, 0, "the writers raced")
      })
    )

    it.effect("gives 200 concurrent saves of one task from two stores with separate connection pools 1 to 200", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const openSnapshots = Effect.map(
          Layer.build(PostgresStore.layer({ url: database })),
          Context.get(SnapshotStore)
        )
        const stores = [yield* openSnapshots, yield* openSnapshots]
        const saved = yield* Effect.all(
          Array.from({ length: 200 }, (_, i) => stores[i % 2]!.save({ taskId: "busy", data: i, checkpoint: false })),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(
          saved.map((snapshot) => snapshot.version).sort((a, b) => a - b),
          Array.from({ length: 200 }, (_, i) => i + 1)
        )
        const page = yield* stores[1]!.list("busy", { limit: 1000 })
        assert.deepStrictEqual(
          page.items.map((snapshot) => snapshot.version),
          Array.from({ length: 200 }, (_, i) => 200 - i)
        )
        assert.strictEqual(new Set(page.items.map((snapshot) => snapshot.data)).size, 200)
      })
    )

    it.effect("forks into a task once when 8 forks and 8 saves of it race from two stores", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const openSnapshots = Effect.map(
          Layer.build(PostgresStore.layer({ url: database })),
          Context.get(SnapshotStore)
        )
        const stores = [yield* openSnapshots, yield* openSnapshots]
        yield* stores[0]!.save({ taskId: "source", data: "original", checkpoint: true })
        const forks = Array.from({ length: 8 }, (_, i) => stores[i % 2]!.fork({ taskId: "source", version: 1 }, "copy"))
        const saves = Array.from({ length: 8 }, (_, i) =>
          stores[i % 2]!.save({ taskId: "copy", data: `save ${i}`, checkpoint: false })
        )
        const results = yield* Effect.all([...forks, ...saves], { concurrency: "unbounded" })
        const forked = results.filter((result) => "_tag" in result && result._tag === "Forked")
        const page = yield* stores[0]!.list("copy", { limit: 100 })
        assert.deepStrictEqual(
          page.items.map((snapshot) => snapshot.version),
          Array.from({ length: page.items.length }, (_, i) => page.items.length - i)
        )
        // a fork lands only as version 1; when a save got there first, every fork found the target taken
        const first = page.items.at(-1)!
        assert.strictEqual(forked.length, first.origin === undefined ? 0 : 1)
        assert.strictEqual(page.items.length, 8 + forked.length)
        assert.isTrue(page.items.slice(0, -1).every((snapshot) => snapshot.origin === undefined))
      })
    )

    it.effect("keeps every log line appended from two stores with separate connection pools", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const openProgress = Effect.map(Layer.build(PostgresStore.layer({ url: database })), Context.get(ProgressStore))
        const stores = [yield* openProgress, yield* openProgress]
        yield* Effect.all(
          Array.from({ length: 40 }, (_, batch) =>
            stores[batch % 2]!.appendLogs(
              "busy",
              Array.from({ length: 5 }, (_, i) => ({ level: "info" as const, message: `${batch}.${i}`, at: i })),
              { keepLast: 1000 }
            )
          ),
          { concurrency: "unbounded" }
        )
        const stored = yield* stores[0]!.listLogs("busy", { limit: 1000 })
        assert.strictEqual(stored.length, 200)
        for (let batch = 0; batch < 40; batch++) {
          assert.deepStrictEqual(
            stored.filter((entry) => entry.message.startsWith(`${batch}.`)).map((entry) => entry.message),
            [0, 1, 2, 3, 4].map((i) => `${batch}.${i}`)
          )
        }
      })
    )

    it.live("a checkpoint under way when another attempt claims its task lands before that claim, or not at all", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const context = yield* Layer.build(PostgresStore.layer({ url: database }))
        const tasks = Context.get(context, TaskStore)
        const steps = Context.get(context, StepStore)
        // attempt A holds the task under a lease that has run out: attempt B may claim it
        const a = yield* tasks.create({ id: "t1", name: "n", input: 1, lease: { owner: "A", expiresAt: 0 } })
        const other = yield* Effect.acquireRelease(
          Effect.sync(() => postgres(database, { max: 2, onnotice: () => {} })),
          (client) => Effect.promise(() => client.end())
        )
        // Another transaction holds the state key A's checkpoint writes, so the checkpoint waits in the middle.
        const holder = yield* Effect.promise(() => other.reserve())
        yield* Effect.promise(() => holder`begin`)
        yield* Effect.promise(
          () => holder`insert into waypoint.state_entries (scope, key, value, version) values ('s', 'k', '"held"', 1)`
        )
        const waiting = Effect.promise(
          () => other`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`
        )
        const checkpoint = yield* Effect.forkChild(
          Effect.exit(
            steps.checkpoint({
              taskId: "t1",
              token: a.fencingToken,
              key: "step-1",
              value: "from A",
              state: { scope: "s", entries: new Map([["k", { value: "from A" }]]) }
            })
          )
        )
        yield* Effect.repeat(waiting, { until: (rows) => rows[0]?.n === 1, schedule: Schedule.spaced("10 millis") })
        // B claims, then reads the steps recorded so far, as an attempt does before it replays its body
        const b = yield* Effect.forkChild(
          Effect.flatMap(tasks.claim("t1", { owner: "B", expiresAt: Date.now() + 60_000 }), (claim) =>
            Effect.map(steps.getStep("t1", "step-1"), (seen) => ({ claimed: Option.isSome(claim), seen }))
          )
        )
        // B either waits for A's statement (held on the task's row) or has gone ahead
        yield* Effect.repeat(Effect.all([waiting, Effect.sync(() => b.pollUnsafe())]), {
          until: ([rows, done]) => rows[0]?.n === 2 || done !== undefined,
          schedule: Schedule.spaced("10 millis")
        })
        yield* Effect.promise(() => holder`commit`)
        holder.release()
        const written = yield* Fiber.join(checkpoint)
        const { claimed, seen } = yield* Fiber.join(b)
        assert.isTrue(claimed)
        if (Exit.isSuccess(written)) {
          // A's step landed: B, claiming after it, must have seen it
          assert.deepStrictEqual(seen, Option.some("from A"))
        } else {
          assert.isTrue(Option.isNone(yield* steps.getStep("t1", "step-1")))
        }
      })
    )

    it.live("receives one signal for two receives under one step key that queue on the same signal", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const steps = Context.get(yield* Layer.build(PostgresStore.layer({ url: database })), StepStore)
        yield* Effect.forEach(["a", "b", "c"], (payload) => steps.sendSignal("t1", "n", payload))
        const other = yield* Effect.acquireRelease(
          Effect.sync(() => postgres(database, { max: 2, onnotice: () => {} })),
          (client) => Effect.promise(() => client.end())
        )
        // Another transaction locks the oldest signal, so both receives wait on it. Once it commits, one receive
        // takes "a"; the other waits on that one, then finds "a" gone, takes "b" and fails on the step key: it must
        // be undone (b stays) and read the step the first one recorded.
        const locker = yield* Effect.promise(() => other.reserve())
        yield* Effect.promise(() => locker`begin`)
        yield* Effect.promise(() => locker`select id from waypoint.signals order by id limit 1 for update`)
        const receives = yield* Effect.forkChild(
          Effect.all([steps.receiveSignal("t1", "n", "same"), steps.receiveSignal("t1", "n", "same")], {
            concurrency: 2
          })
        )
        const waiting = Effect.promise(
          () => other`select count(*)::int as n from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'`
        )
        yield* Effect.repeat(waiting, { until: (rows) => rows[0]?.n === 2, schedule: Schedule.spaced("10 millis") })
        yield* Effect.promise(() => locker`commit`)
        locker.release()
        assert.deepStrictEqual(yield* Fiber.join(receives), [Option.some("a"), Option.some("a")])
        assert.deepStrictEqual(yield* steps.getStep("t1", "same"), Option.some("a"))
        assert.strictEqual(yield* steps.pendingSignals("t1", "n"), 2)
        assert.deepStrictEqual(yield* steps.receiveSignal("t1", "n", "next"), Option.some("b"))
      })
    )

    it.live(
      "two pools ending a bounded fan-out's children at once wake the parent after the last end, never past the bound",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.scoped(adminUrl)
          /** A store with its own pool, and its `Db`, over the test's database. */
          const pool = Layer.build(Layer.provideMerge(PgStores.layer, PostgresDb.layer({ url: database })))
          const [one, two] = [yield* pool, yield* pool]
          const seen = yield* queuedFanOut(
            [Context.get(one, TaskStore), Context.get(two, TaskStore)],
            Context.get(one, Db),
            {
              parentId: "fan",
              count: 1_000,
              bound: 6
            }
          )
          // read as soon as the parent was seen runnable: a wake before the last end would find children unended
          assert.deepStrictEqual([seen.parentStatus, seen.completed], ["pending", 1_000])
          assert.isAtMost(seen.maxActive, 6)
          assert.isAtLeast(seen.samples, 10, "sampled while it ran")
        }).pipe(Effect.scoped),
      120_000
    )

    it.live(
      "runs a fan-out of 1 000 children with a bound of 16 to its end through the runtime, without a worker",
      () =>
        Effect.gen(function* () {
          // the parent's wait marks its children while the first ends release siblings: a claim may skip one it holds
          const database = yield* TestDatabase.scoped(adminUrl)
          const stores = yield* Layer.build(PostgresStore.layer({ url: database }))
          const child = task({ name: "one", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n))
          const parent = task({ name: "wide", input: Schema.Void, output: Schema.Number }, () =>
            Effect.map(
              Children.all(
                Array.from({ length: 1_000 }, (_, i) => Children.spec(child, i, { key: `c${i}` })),
                { concurrency: 16 }
              ),
              (outputs) => outputs.reduce((a, b) => a + b, 0)
            )
          )
          const runtime = yield* Runtime.make({ tasks: [parent, child] }).pipe(Effect.provideContext(stores))
          assert.strictEqual(yield* runtime.run(parent, undefined), (999 * 1_000) / 2)
        }).pipe(Effect.scoped),
      60_000
    )

    /** A transaction of its own, held open on a connection of its own until `commit`; committed by the scope. */
    const openTransaction = (database: string) =>
      Effect.acquireRelease(
        Effect.promise(async () => {
          const client = postgres(database, { max: 1, onnotice: () => {} })
          let run: (text: string) => Promise<ReadonlyArray<Record<string, unknown>>> = async () => []
          let commit: () => void = () => {}
          let committed: Promise<void> = Promise.resolve()
          const begun = new Promise<void>((started) => {
            const done = client.begin(async (tx) => {
              run = async (text) => [...(await tx.unsafe(text))]
              started()
              await new Promise<void>((resolve) => {
                commit = resolve
              })
            })
            committed = done.then(() => undefined)
          })
          await begun
          return {
            run: (text: string) => run(text),
            commit: () => {
              commit()
              return committed
            },
            client
          }
        }),
        // a test that failed before its commit commits now, so that the client can end
        ({ client, commit }) => Effect.promise(() => Promise.all([commit(), client.end()]))
      )
    const childLease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }

    it.live("a wait waits for a child created marked meanwhile, and leaves it out when it does not name it", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const store = Context.get(yield* Layer.build(PostgresStore.layer({ url: database })), TaskStore)
        const parent = yield* store.create({ id: "p", name: "parent", input: null, lease: childLease })
        const named = yield* store.create({
          ...{ id: "p/a", name: "child", input: null, parentId: "p", childKey: "a" },
          ...{ lease: childLease, awaited: true }
        })
        // another process creates a child marked for the parent's next wait (a join its sibling's suspension
        // interrupted, an attempt that lost its lease), and has not committed when the wait starts
        const other = yield* openTransaction(database)
        yield* Effect.promise(() =>
          other.run(`insert into waypoint.tasks (id, name, input, status, attempt, parent_id, child_key,
              awaited_gen, lease_owner, lease_expires_at, fencing_token, created_at, updated_at)
            values ('p/stray', 'child', 'null', 'running', 1, 'p', 'stray',
              (select wait_gen + 1 from waypoint.tasks where id = 'p' for share), 'w', 9000000000000000, 1, 1, 1)`)
        )
        const waiting = yield* Effect.forkChild(
          store.finish("p", parent.fencingToken, { _tag: "AwaitingChildren", children: ["p/a"], mode: "all" })
        )
        yield* Effect.sleep(300)
        assert.isUndefined(waiting.pollUnsafe(), "the wait waits for the create's lock on the parent")
        yield* Effect.promise(() => other.commit())
        yield* Fiber.join(waiting)
        const stray = Option.getOrThrow(yield* store.get("p/stray"))
        yield* store.finish(stray.id, stray.fencingToken, { _tag: "Failed", error: { tag: "Boom", message: "no" } })
        assert.strictEqual(
          Option.getOrThrow(yield* store.get("p")).status,
          "suspended",
          "the stray's end counts for nothing"
        )
        yield* store.finish(named.id, named.fencingToken, { _tag: "Completed", output: null })
        assert.strictEqual(Option.getOrThrow(yield* store.get("p")).status, "pending")
      }).pipe(Effect.scoped)
    )

    it.live("a child created marked while its parent's wait is written is marked for the wait after it", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const store = Context.get(yield* Layer.build(PostgresStore.layer({ url: database })), TaskStore)
        yield* store.create({ id: "p", name: "parent", input: null, lease: childLease })
        // a wait of the parent's, as awaitChildren.ts writes it, not yet committed: its generation is 1
        const wait = yield* openTransaction(database)
        yield* Effect.promise(() => wait.run(`select id from waypoint.tasks where id = 'p' for no key update`))
        yield* Effect.promise(() =>
          wait.run(`update waypoint.tasks set wait_gen = 1, status = 'suspended',
            suspend_reason = '{"_tag":"WaitingForChildren","mode":"all","total":1}', waiting_for = 1 where id = 'p'`)
        )
        const creating = yield* Effect.forkChild(
          store.create({ id: "p/late", name: "child", input: null, parentId: "p", childKey: "late", awaited: true })
        )
        yield* Effect.sleep(300)
        assert.isUndefined(creating.pollUnsafe(), "the create waits for the wait")
        yield* Effect.promise(() => wait.commit())
        yield* Fiber.join(creating)
        const [row] = yield* Effect.promise(() =>
          wait.client.unsafe(`select awaited_gen from waypoint.tasks where id = 'p/late'`)
        )
        assert.strictEqual(row?.awaited_gen, 2, "marked for the next wait, not for the one written meanwhile")
      }).pipe(Effect.scoped)
    )

    it.live("a cancel or pause asked from another process's store reaches the holder at once, by notification", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.scoped(adminUrl)
        const holder = yield* Layer.build(PostgresStore.layer({ url: database }))
        const asker = yield* Layer.build(PostgresStore.layer({ url: database }))
        yield* requestsAcross(holder, asker)
      }).pipe(Effect.scoped)
    )

    it.effect("fails with StoreError once its database is gone", () =>
      Effect.gen(function* () {
        const database = yield* TestDatabase.create(adminUrl)
        const store = yield* open(database)
        yield* store.create({ id: "t", name: "job", input: null })
        // ends every connection (pg_terminate_backend) and refuses new ones
        yield* TestDatabase.drop(adminUrl, database)
        const error = yield* Effect.flip(store.get("t"))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "get"])
      })
    )

    it.effect("fails to open with StoreError when its database does not exist", () =>
      Effect.gen(function* () {
        const missing = new URL(adminUrl)
        missing.pathname = "/wp_test_does_not_exist"
        const error = yield* Effect.flip(open(missing.toString()))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "migrate"])
      })
    )
  })
})
