/**
 * What the PostgreSQL task store guarantees beyond the conformance suite, run on both drivers: JSON kept exactly,
 * driver errors and corrupt rows surfacing as `StoreError`, and races that only a database can have.
 * The layer must start each test from an empty, migrated database and also provide its `Db` and `Driver`.
 */
import { assert, describe, it } from "@effect/vitest"
import { sql } from "drizzle-orm"
import type { SelectedFields } from "drizzle-orm/pg-core"
import { Effect, Exit, type Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { type StoreError, TaskIdTaken } from "../../../src/stores/errors.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { Driver } from "../../../src/stores/postgres/Driver.ts"
import { attempt } from "../../../src/stores/postgres/internal/attempt.ts"
import * as PgTaskStore from "../../../src/stores/postgres/PgTaskStore.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"

export const pgTaskStoreSuite = <E>(name: string, layer: Layer.Layer<TaskStore | Db | Driver, E>) =>
  describe(`PgTaskStore: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, TaskStore | Db | Driver>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "reads back every JSON value exactly, including strings that look like JSON and null",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const values = ["123", "null", '{"a":1}', "", null, 0, -1.5, true, [], {}, { nested: [1, { b: "ü😀" }] }]
        for (const [i, input] of values.entries()) {
          yield* store.create({ id: `j${i}`, name: "json", input })
          const claimed = Option.getOrThrow(yield* store.claim(`j${i}`, { owner: "w", expiresAt: 1 }))
          yield* store.finish(`j${i}`, claimed.fencingToken, { _tag: "Completed", output: input })
          const read = Option.getOrThrow(yield* store.get(`j${i}`))
          assert.deepStrictEqual(read.input, input)
          assert.isTrue("output" in read, `output of j${i} is present`)
          assert.deepStrictEqual(read.output, input)
        }
        yield* store.create({ id: "fresh", name: "json", input: null })
        assert.isFalse("output" in Option.getOrThrow(yield* store.get("fresh")), "no output before completion")
      })
    )

    test(
      "fails a create with an id already used with TaskIdTaken and keeps the first task",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "dup", name: "first", input: 1 })
        const error = yield* Effect.flip(store.create({ id: "dup", name: "second", input: 2 }))
        assert.deepStrictEqual(error, new TaskIdTaken({ taskId: "dup" }))
        assert.strictEqual(Option.getOrThrow(yield* store.get("dup")).name, "first")
      })
    )

    test(
      "fails with StoreError on a row the TaskRecord schema rejects",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const db = yield* Db
        yield* store.create({ id: "bad", name: "job", input: null })
        yield* execute(db, "corrupt", sql`update waypoint.tasks set status = 'exploded' where id = 'bad'`)
        const error = yield* Effect.flip(store.get("bad"))
        assert.strictEqual(error._tag, "StoreError")
        assert.strictEqual(error.operation, "get")
      })
    )

    test(
      "creates one task for 8 concurrent creates with one idempotency key",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const created = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) =>
            store.create({ id: `i${i}`, name: "job", input: i, idempotencyKey: "k" })
          ),
          { concurrency: "unbounded" }
        )
        const ids = new Set(created.map((task) => task.id))
        assert.strictEqual(ids.size, 1)
        const page = yield* store.list({ name: "job" })
        assert.deepStrictEqual(
          page.items.map((task) => task.id),
          [...ids]
        )
      })
    )

    test(
      "lists summaries without selecting input or output",
      Effect.gen(function* () {
        const db = yield* Db
        // the columns of each query built on the Db
        const selected: Array<Array<string>> = []
        const watched = new Proxy(db, {
          get: (target, key, receiver) =>
            key === "select"
              ? (fields: SelectedFields) => {
                  selected.push(Object.keys(fields))
                  return target.select(fields)
                }
              : Reflect.get(target, key, receiver)
        })
        const store = yield* PgTaskStore.make.pipe(Effect.provideService(Db, watched))
        yield* store.create({ id: "t", name: "job", input: { big: "x".repeat(1000) } })
        selected.length = 0 // the statements the store prepared when it was made
        assert.deepStrictEqual(
          (yield* store.listSummaries({})).items.map((task) => task.id),
          ["t"]
        )
        assert.strictEqual(selected.length, 1)
        assert.notInclude(selected[0], "input")
        assert.notInclude(selected[0], "output")
        assert.include(selected[0], "error", "the other jsonb columns are read")
        yield* store.list({})
        assert.includeMembers(selected[1] ?? [], ["input", "output"], "list reads them")
      }).pipe(Effect.scoped)
    )

    test(
      "sends concurrent creates, claims, heartbeats and finishes as a few statements, a lone one at once",
      Effect.gen(function* () {
        const driver = yield* Driver
        const sent = new Map<string, number>()
        const counting = Driver.of({
          prepare: (operation, query) => {
            const statement = driver.prepare(operation, query)
            return (values) =>
              Effect.suspend(() => {
                sent.set(operation, (sent.get(operation) ?? 0) + 1)
                return statement(values)
              })
          }
        })
        const store = yield* PgTaskStore.make.pipe(Effect.provideService(Driver, counting))
        const lease = { owner: "w", expiresAt: 10_000 }
        const count = 100
        const all = <A, E>(effects: ReadonlyArray<Effect.Effect<A, E>>) =>
          Effect.all(effects, { concurrency: "unbounded" })
        const created = yield* all(
          Array.from({ length: count }, (_, i) => store.create({ id: `t${i}`, name: "job", input: i, lease }))
        )
        const pending = yield* all(
          Array.from({ length: count }, (_, i) => store.create({ id: `p${i}`, name: "job", input: i }))
        )
        const claimed = yield* all(pending.map((task) => store.claim(task.id, lease)))
        assert.deepStrictEqual(
          claimed.map((claim) => Option.map(claim, (task) => [task.id, task.status, task.leaseOwner])),
          pending.map((task) => Option.some([task.id, "running", "w"]))
        )
        assert.strictEqual(
          new Set(claimed.map((claim) => Option.getOrThrow(claim).fencingToken)).size,
          count,
          "each claim takes its own fencing token"
        )
        yield* all(created.map((task) => store.heartbeat(task.id, task.fencingToken, 20_000)))
        const finished = yield* all(
          created.map((task) => store.finish(task.id, task.fencingToken, { _tag: "Completed", output: task.input }))
        )
        assert.deepStrictEqual(
          finished.map((task) => [task.id, task.output, task.leaseExpiresAt]),
          created.map((task) => [task.id, task.input, undefined])
        )
        // the first call of each kind goes alone, the others queue behind it
        for (const operation of ["claim", "heartbeat", "finish"]) {
          assert.isAtLeast(sent.get(operation) ?? 0, 2, operation)
          assert.isAtMost(sent.get(operation) ?? 0, 10, operation)
        }
        // two rounds of creates
        assert.isAtLeast(sent.get("create") ?? 0, 2, "create")
        assert.isAtMost(sent.get("create") ?? 0, 20, "create")
        yield* store.create({ id: "alone", name: "job", input: null })
        assert.strictEqual(
          Option.getOrThrow(yield* store.get("alone")).status,
          "pending",
          "a lone call waits for nothing"
        )
      }).pipe(Effect.scoped)
    )

    test(
      "fails only the write of a batch the database refuses, and commits the others",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const lease = { owner: "w", expiresAt: 10_000 }
        // PostgreSQL's jsonb refuses the character U+0000
        const unstorable = "nul \u0000 inside"
        const creates = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) =>
            Effect.exit(store.create({ id: `t${i}`, name: "job", input: i === 7 ? unstorable : i, lease }))
          ),
          { concurrency: "unbounded" }
        )
        const refused = Option.getOrThrow(Exit.findErrorOption(creates[7] as Exit.Exit<unknown, StoreError>))
        assert.deepStrictEqual([refused._tag, refused.operation], ["StoreError", "create"])
        assert.isTrue(Option.isNone(yield* store.get("t7")))
        const created = creates.filter(Exit.isSuccess).map((exit) => exit.value)
        assert.strictEqual(created.length, 19)
        const finishes = yield* Effect.all(
          created.map((task) =>
            Effect.exit(
              store.finish(task.id, task.fencingToken, {
                _tag: "Completed",
                output: task.id === "t11" ? unstorable : task.input
              })
            )
          ),
          { concurrency: "unbounded" }
        )
        for (const [n, task] of created.entries()) {
          const stored = Option.getOrThrow(yield* store.get(task.id))
          if (task.id === "t11") {
            assert.strictEqual(
              Option.getOrThrow(Exit.findErrorOption(finishes[n] as Exit.Exit<unknown, StoreError>))._tag,
              "StoreError"
            )
            assert.deepStrictEqual([stored.status, stored.fencingToken], ["running", task.fencingToken])
          } else {
            assert.deepStrictEqual([stored.status, stored.output], ["completed", task.input])
          }
        }
      })
    )

    test(
      "claims in one batch as one by one: only runnable tasks, a task asked twice once, each its own outcome",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const now = 5_000
        yield* TestClock.setTime(now)
        yield* store.create({ id: "first", name: "job", input: null })
        yield* store.create({ id: "pending", name: "job", input: null })
        yield* store.create({ id: "later", name: "job", input: null, runAt: now + 1_000 })
        yield* store.create({ id: "held", name: "job", input: null, lease: { owner: "other", expiresAt: now + 1_000 } })
        yield* store.create({ id: "expired", name: "job", input: null, lease: { owner: "dead", expiresAt: now - 1 } })
        yield* store.create({ id: "twice", name: "job", input: null })
        const lease = { owner: "w", expiresAt: now + 30_000 }
        // the first claim goes alone; the others queue behind it and go as one batch
        const ids = ["first", "pending", "later", "held", "expired", "missing", "twice", "twice"]
        const claims = yield* Effect.all(
          ids.map((id) => store.claim(id, lease)),
          { concurrency: "unbounded" }
        )
        const won = claims.map((claim) => Option.isSome(claim))
        assert.deepStrictEqual(won.slice(0, 6), [true, true, false, false, true, false])
        assert.strictEqual(won.slice(6).filter(Boolean).length, 1, "a task asked twice in a batch is claimed once")
        const expired = Option.getOrThrow(claims[4] ?? Option.none())
        assert.deepStrictEqual([expired.leaseOwner, expired.leaseExpiresAt], ["w", now + 30_000])
        const held = Option.getOrThrow(yield* store.get("held"))
        assert.deepStrictEqual([held.leaseOwner, held.status], ["other", "running"])
        assert.strictEqual(Option.getOrThrow(yield* store.get("later")).status, "pending")
      })
    )

    test(
      "lets exactly one of 8 concurrent claims of a task win",
      Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.create({ id: "race", name: "job", input: null })
        const claims = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) => store.claim("race", { owner: `w${i}`, expiresAt: 1 })),
          { concurrency: "unbounded" }
        )
        const won = claims.filter(Option.isSome)
        assert.strictEqual(won.length, 1)
        const current = Option.getOrThrow(yield* store.get("race"))
        assert.strictEqual(current.leaseOwner, Option.getOrThrow(won[0] ?? Option.none()).leaseOwner)
      })
    )

    test(
      "reads int8, int4, boolean and text columns of a Driver statement alike on both drivers",
      Effect.gen(function* () {
        const driver = yield* Driver
        const statement = driver.prepare(
          "types",
          sql`select ${sql.placeholder("n")}::bigint as n, 2::int as i, true as b, ${sql.placeholder("t")}::text as t,
            null::bigint as missing`
        )
        const rows = yield* statement({ n: Number.MAX_SAFE_INTEGER, t: "ü" })
        assert.deepStrictEqual(rows, [{ n: Number.MAX_SAFE_INTEGER, i: 2, b: true, t: "ü", missing: null }])
        const again = yield* statement({ n: -1, t: "" })
        assert.deepStrictEqual(again, [{ n: -1, i: 2, b: true, t: "", missing: null }])
      })
    )

    test(
      "fails a Driver statement the database refuses with StoreError naming its operation",
      Effect.gen(function* () {
        const driver = yield* Driver
        const statement = driver.prepare("divide", sql`select 1 / ${sql.placeholder("d")}::int as q`)
        const error = yield* Effect.flip(statement({ d: 0 }))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "divide"])
        assert.deepStrictEqual(yield* statement({ d: 1 }), [{ q: 1 }], "the statement still runs after a failure")
      })
    )

    test(
      "keeps a Driver statement out of a transaction another caller has open",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const db = yield* Db
        let created: Promise<unknown> = Promise.resolve()
        const rolledBack = yield* Effect.flip(
          attempt("transaction", () =>
            db.transaction(async (tx) => {
              await tx.execute(
                sql`insert into waypoint.tasks (id, name, input, status, attempt, created_at, updated_at)
                  values ('in-tx', 'job', 'null', 'pending', 1, 0, 0)`
              )
              // sent while the transaction is open; on PGlite's one connection it must wait for the rollback
              created = Effect.runPromise(store.create({ id: "outside", name: "job", input: null }))
              await new Promise((resolve) => setImmediate(resolve))
              throw new Error("roll back")
            })
          )
        )
        assert.strictEqual(rolledBack._tag, "StoreError")
        yield* Effect.promise(() => created)
        assert.isTrue(Option.isNone(yield* store.get("in-tx")))
        assert.isTrue(Option.isSome(yield* store.get("outside")), "not rolled back with the transaction")
      })
    )
  })
