/**
 * Child tasks in the PostgreSQL task store beyond the conformance suite, run on both drivers: each child of a batched
 * finish counted by its parent, `claimChild` reading only a parent's idle children among 10 000, and a queued
 * fan-out of 2 000 that never runs more children than its bound. The layer must start each test from an empty,
 * migrated database and also provide its `Db` and `Driver`.
 */
import { assert, describe, it } from "@effect/vitest"
import { type SQLWrapper, sql } from "drizzle-orm"
import { Deferred, Effect, type Layer, Option, Schema, type Scope } from "effect"
import { Children, Runtime, task } from "../../../src/index.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { Driver } from "../../../src/stores/postgres/Driver.ts"
import { PgDialect } from "../../../src/stores/postgres/internal/drizzle.ts"
import { pageQuery } from "../../../src/stores/postgres/internal/task/list.ts"
import { returnedSummary } from "../../../src/stores/postgres/internal/task/rows.ts"
import * as PgTaskStore from "../../../src/stores/postgres/PgTaskStore.ts"
import { isTerminal } from "../../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { queuedFanOut } from "./childrenFanOut.ts"

const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }

/** A driver over `driver` that counts the statements it runs, by operation, and keeps each query it prepares. */
const watching = (driver: Driver["Service"]) => {
  const sent = new Map<string, number>()
  const prepared = new Map<string, SQLWrapper>()
  const watched = Driver.of({
    prepare: (operation, query) => {
      prepared.set(operation, query)
      const statement = driver.prepare(operation, query)
      return (values) =>
        Effect.suspend(() => {
          sent.set(operation, (sent.get(operation) ?? 0) + 1)
          return statement(values)
        })
    }
  })
  return { sent, prepared, watched }
}

/** Each child's row version (`xmin`) and mark, by id: a row written again has another `xmin`; a lock keeps it. */
const childRows = (parentId: string) =>
  Effect.flatMap(Db, (db) =>
    Effect.map(
      execute(
        db,
        "rows",
        sql`select id, xmin::text as xmin, awaited_gen from waypoint.tasks where parent_id = ${parentId} order by id`
      ),
      (rows) => new Map(rows.map((row) => [String(row.id), { xmin: String(row.xmin), gen: row.awaited_gen }]))
    )
  )

export const pgChildrenSuite = <E>(name: string, layer: Layer.Layer<TaskStore | Db | Driver, E>) =>
  describe(`PgTaskStore children: ${name}`, () => {
    const test = (
      title: string,
      body: Effect.Effect<unknown, unknown, TaskStore | Db | Driver | Scope.Scope>,
      timeout?: number
    ) => it.live(title, () => body.pipe(Effect.scoped, Effect.provide(layer)) as Effect.Effect<void, unknown>, timeout)

    test(
      "counts each child that a batched finish ends, once, and wakes the parent with the last",
      Effect.gen(function* () {
        const { sent, watched } = watching(yield* Driver)
        const store = yield* PgTaskStore.make.pipe(Effect.provideService(Driver, watched))
        const parent = yield* store.create({ id: "p", name: "parent", input: null, lease })
        const children = yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => `p/${i}`),
          (id) => store.create({ id, name: "child", input: null, parentId: "p", childKey: id, lease })
        )
        const ids = children.map((child) => child.id)
        yield* store.finish("p", parent.fencingToken, { _tag: "AwaitingChildren", children: ids, mode: "settled" })
        const end = (from: number, to: number) =>
          Effect.all(
            children
              .slice(from, to)
              .map((child) => store.finish(child.id, child.fencingToken, { _tag: "Completed", output: null })),
            { concurrency: "unbounded" }
          )
        sent.clear()
        yield* end(0, 6)
        // the first goes alone, the others as one statement
        assert.strictEqual(sent.get("finish"), 2, "six finishes in two statements")
        const waiting = Option.getOrThrow(yield* store.get("p"))
        assert.deepStrictEqual(waiting.suspendReason, {
          _tag: "WaitingForChildren",
          mode: "settled",
          total: 8,
          remaining: 2
        })
        yield* end(6, 8)
        const woken = Option.getOrThrow(yield* store.get("p"))
        assert.deepStrictEqual([woken.status, woken.suspendReason], ["pending", undefined])
      })
    )

    test(
      "counts the children a join created in its wait without writing them again, and wakes the parent with the last",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const parent = yield* store.create({ id: "j", name: "parent", input: null, lease })
        const children = yield* Effect.forEach(
          Array.from({ length: 5 }, (_, i) => `j/${i}`),
          (id) => store.create({ id, name: "child", input: null, parentId: "j", childKey: id, lease, awaited: true })
        )
        // one ends before the wait: it is not waited for, although it was marked at its create
        const [first, ...rest] = children
        if (first === undefined) return yield* Effect.die(new Error("no child"))
        yield* store.finish(first.id, first.fencingToken, { _tag: "Completed", output: null })
        const created = yield* childRows("j")
        assert.deepStrictEqual(
          [...created.values()].map((row) => row.gen),
          [1, 1, 1, 1, 1],
          "each marked with the parent's next wait"
        )
        yield* store.finish("j", parent.fencingToken, {
          _tag: "AwaitingChildren",
          children: rest.map((child) => child.id),
          mode: "all",
          total: 5
        })
        const waited = yield* childRows("j")
        assert.deepStrictEqual(waited, created, "the wait wrote no child again")
        const waiting = Option.getOrThrow(yield* store.get("j"))
        assert.deepStrictEqual(waiting.suspendReason, {
          _tag: "WaitingForChildren",
          mode: "all",
          total: 5,
          remaining: 4
        })
        for (const [i, child] of rest.entries()) {
          yield* store.finish(child.id, child.fencingToken, { _tag: "Completed", output: i })
          const now = Option.getOrThrow(yield* store.get("j"))
          assert.strictEqual(now.status, i === rest.length - 1 ? "pending" : "suspended", `after end ${i + 1}`)
        }
      })
    )

    test(
      "leaves out of a wait a child a join created that the wait does not name: its end counts for nothing",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const parent = yield* store.create({ id: "s", name: "parent", input: null, lease })
        const [a, b, stray, unmarked] = yield* Effect.forEach(["s/a", "s/b", "s/stray", "s/unmarked"], (id) =>
          store.create({
            id,
            name: "child",
            input: null,
            parentId: "s",
            childKey: id,
            lease,
            awaited: id !== "s/unmarked"
          })
        )
        if (a === undefined || b === undefined || stray === undefined || unmarked === undefined) {
          return yield* Effect.die(new Error("no child"))
        }
        // names a and a child started alone, not the stray (a join that returned without waiting for it)
        yield* store.finish("s", parent.fencingToken, {
          _tag: "AwaitingChildren",
          children: [a.id, unmarked.id],
          mode: "all"
        })
        const marks = new Map([...(yield* childRows("s"))].map(([id, row]) => [id, row.gen]))
        assert.deepStrictEqual(Object.fromEntries(marks), { "s/a": 1, "s/b": null, "s/stray": null, "s/unmarked": 1 })
        yield* store.finish(stray.id, stray.fencingToken, { _tag: "Failed", error: { tag: "Boom", message: "no" } })
        yield* store.finish(b.id, b.fencingToken, { _tag: "Completed", output: null })
        const waiting = Option.getOrThrow(yield* store.get("s"))
        assert.deepStrictEqual(
          [waiting.status, waiting.suspendReason],
          ["suspended", { _tag: "WaitingForChildren", mode: "all", total: 2, remaining: 2 }],
          "neither the stray's failure nor b's end counts"
        )
        yield* store.finish(a.id, a.fencingToken, { _tag: "Completed", output: null })
        assert.strictEqual(Option.getOrThrow(yield* store.get("s")).status, "suspended")
        yield* store.finish(unmarked.id, unmarked.fencingToken, { _tag: "Completed", output: null })
        assert.strictEqual(Option.getOrThrow(yield* store.get("s")).status, "pending")
      })
    )

    test(
      "through the runtime, a bounded join marks the children it creates with the wait it then writes, and no other",
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const held = task({ name: "held", input: Schema.Number, output: Schema.Number }, (n) =>
          Effect.as(Deferred.await(gate), n)
        )
        const parent = task({ name: "joins", input: Schema.Void, output: Schema.Number }, () =>
          Effect.gen(function* () {
            yield* Children.start(held, 10, { key: "alone" })
            const [a, b] = yield* Children.all(
              [Children.spec(held, 1, { key: "a" }), Children.spec(held, 2, { key: "b" })],
              { concurrency: 2 }
            )
            return (a ?? 0) + (b ?? 0)
          })
        )
        const runtime = yield* Runtime.make({ tasks: [held, parent] })
        const handle = yield* runtime.submit(parent, undefined)
        while ((yield* handle.status) !== "suspended") yield* Effect.sleep(5)
        const rows = yield* childRows(handle.id)
        const marks = new Map<string, unknown>()
        const written = new Map<string, string | undefined>()
        for (const record of (yield* (yield* TaskStore).list({ parentId: handle.id })).items) {
          marks.set(record.childKey ?? "", rows.get(record.id)?.gen)
          written.set(record.childKey ?? "", rows.get(record.id)?.xmin)
        }
        assert.deepStrictEqual(Object.fromEntries(marks), { alone: null, a: 1, b: 1 })
        // the transaction that wrote the wait (the parent's row) wrote neither child: they were marked at their create
        const [wait] = yield* execute(
          yield* Db,
          "xmin",
          sql`select xmin::text as xmin from waypoint.tasks where id = ${handle.id}`
        )
        assert.notStrictEqual(written.get("a"), String(wait?.xmin))
        assert.notStrictEqual(written.get("b"), String(wait?.xmin))
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* handle.await, 3)
      })
    )

    test(
      "claims a child among 10 000 of a parent through the index of its idle children, reading none that ended",
      Effect.gen(function* () {
        const db = yield* Db
        const driver = yield* Driver
        const { prepared, watched } = watching(driver)
        const store = yield* PgTaskStore.make.pipe(Effect.provideService(Driver, watched))
        yield* store.create({ id: "big", name: "parent", input: null, lease })
        // 9 990 children that ended, then 10 idle ones: pending of another name, pending, queued
        yield* execute(
          db,
          "insert",
          sql`insert into waypoint.tasks (id, name, input, status, attempt, parent_id, created_at, updated_at)
            select 'big/' || lpad(i::text, 5, '0'), 'child', 'null'::jsonb,
              case when i <= 9990 then 'completed' else 'pending' end, 1, 'big', i, i
            from generate_series(1, 10000) as i`
        )
        yield* execute(db, "idle", sql`update waypoint.tasks set name = 'other' where id in ('big/09991', 'big/09992')`)
        yield* execute(
          db,
          "queued",
          sql`update waypoint.tasks set status = 'suspended', suspend_reason = '{"_tag":"QueuedBehindSiblings"}'
            where id >= 'big/09998' and parent_id = 'big'`
        )
        yield* execute(db, "analyze", sql`analyze waypoint.tasks`)
        const claimChild = prepared.get("claimChild")
        if (claimChild === undefined) return yield* Effect.die(new Error("claimChild prepared no statement"))
        const values = { parentId: "big", names: JSON.stringify(["child"]), now: 20_000, owner: "w", expiresAt: 1 }
        const plan = yield* driver.prepare("explain", sql`explain (format json) ${claimChild.getSQL()}`)(values)
        const text = JSON.stringify(plan)
        assert.include(text, "tasks_idle_children_idx", "the child is found through the index of idle children")
        assert.notInclude(text, "Seq Scan")
        assert.notInclude(text, "tasks_children_idx", "not through the index of every child")
        const claimed = Option.getOrThrow(yield* store.claimChild("big", ["child"], lease))
        assert.deepStrictEqual([claimed.id, claimed.status], ["big/09993", "running"])
      }),
      60_000
    )

    test(
      "reads a parent's children through the index of its children, and pages them without a walk of older tasks",
      Effect.gen(function* () {
        const db = yield* Db
        const driver = yield* Driver
        const { prepared, watched } = watching(driver)
        const store = yield* PgTaskStore.make.pipe(Effect.provideService(Driver, watched))
        // 2 000 children of one parent between 20 000 older and 20 000 newer top-level tasks, made after the last
        // analyze (as a fan-out is): a plan by creation would walk the others
        yield* execute(
          db,
          "insert",
          sql`insert into waypoint.tasks (id, name, input, status, attempt, created_at, updated_at)
            select 'top/' || lpad(i::text, 5, '0'), 'top', 'null'::jsonb, 'completed', 1, i + (i / 20001) * 2000, i
            from generate_series(1, 40000) as i`
        )
        yield* execute(db, "analyze", sql`analyze waypoint.tasks`)
        yield* execute(
          db,
          "insert",
          sql`insert into waypoint.tasks (id, name, input, status, attempt, parent_id, child_key, created_at, updated_at)
            select 'kid/' || lpad(i::text, 5, '0'), 'child', 'null'::jsonb, 'completed', 1, 'big', 'k' || i, 20000 + i, 1
            from generate_series(1, 2000) as i`
        )
        assert.strictEqual((yield* store.children("big")).length, 2000)
        const children = prepared.get("children")
        if (children === undefined) return yield* Effect.die(new Error("children prepared no statement"))
        // the plan a pooled connection keeps after five runs: generic, as the parent is a placeholder
        const text = new PgDialect().sqlToQuery(children.getSQL()).sql
        const plan = yield* Effect.promise(() =>
          db.transaction(async (tx) => {
            await tx.execute(sql`set local plan_cache_mode = force_generic_plan`)
            await tx.execute(sql.raw(`prepare wp_children(text) as ${text}`))
            const explained = await tx.execute(sql.raw(`explain (format json) execute wp_children('big')`))
            await tx.execute(sql.raw("deallocate wp_children"))
            return JSON.stringify(explained)
          })
        )
        assert.include(plan, "tasks_children_idx")
        const pages: Array<string> = []
        let cursor: string | undefined
        do {
          const page = yield* store.listSummaries({ parentId: "big", limit: 1000, cursor })
          pages.push(`${page.items[0]?.id}..${page.items.at(-1)?.id}`)
          cursor = page.nextCursor
        } while (cursor !== undefined)
        assert.deepStrictEqual(pages, ["kid/00001..kid/01000", "kid/01001..kid/02000"])
        for (const after of [undefined, { createdAt: 20_500, id: "kid/00500" }]) {
          const listPlan = yield* execute(
            db,
            "explain",
            sql`explain (format json) ${pageQuery(db, returnedSummary, { parentId: "big" }, after, 1001).getSQL()}`
          )
          assert.include(JSON.stringify(listPlan), "tasks_children_idx", "a page is found through the parent")
          assert.notInclude(JSON.stringify(listPlan), "tasks_created_at_idx", "not by a walk of every task by creation")
        }
      }),
      60_000
    )

    test(
      "finds a parent's oldest queued child through the index of queued children, in the plan a sibling's end keeps",
      Effect.gen(function* () {
        const db = yield* Db
        yield* execute(
          db,
          "insert",
          sql`insert into waypoint.tasks (id, name, input, status, attempt, created_at, updated_at)
            values ('q', 'parent', 'null'::jsonb, 'suspended', 1, 0, 0)`
        )
        // as a bounded fan-out of 10 000 starts: 16 running, the rest queued
        yield* execute(
          db,
          "insert",
          sql`insert into waypoint.tasks (id, name, input, status, attempt, parent_id, child_key, suspend_reason,
              bounded, created_at, updated_at)
            select 'q/' || lpad(i::text, 5, '0'), 'child', 'null'::jsonb,
              case when i <= 16 then 'running' else 'suspended' end, 1, 'q', 'c' || i,
              case when i > 16 then '{"_tag":"QueuedBehindSiblings"}'::jsonb end, true, i, i
            from generate_series(1, 10000) as i`
        )
        yield* execute(db, "analyze", sql`analyze waypoint.tasks`)
        // the trigger's query, as PL/pgSQL plans it once for every parent (a generic plan), on one connection
        const plan = yield* Effect.promise(() =>
          db.transaction(async (tx) => {
            await tx.execute(sql`set local plan_cache_mode = force_generic_plan`)
            await tx.execute(
              sql.raw(`prepare wp_oldest_queued(text) as select "id" from "waypoint"."tasks"
                where "parent_id" = $1 and "status" = 'suspended' and "suspend_reason"->>'_tag' = 'QueuedBehindSiblings'
                order by "created_at", "id" limit 1 for update skip locked`)
            )
            const explained = await tx.execute(sql.raw(`explain (format json) execute wp_oldest_queued('q')`))
            await tx.execute(sql.raw("deallocate wp_oldest_queued"))
            return JSON.stringify(explained)
          })
        )
        assert.include(plan, "tasks_queued_children_idx")
        assert.notInclude(plan, "tasks_created_at_idx", "not every older task by creation")
      })
    )

    test(
      "drives every child a fan-out created before one of its inputs failed it, bounded or not, and leaves none idle",
      Effect.gen(function* () {
        const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) =>
          Effect.succeed(n * 2)
        )
        // Creates in flight, in a batch, when the fan-out fails: their writes go on, their callers are interrupted.
        // Bounded, the children are driven only once all are created: here, never.
        const parent = task({ name: "wide", input: Schema.Struct({ bound: Schema.optionalKey(Schema.Number) }) }, (o) =>
          Effect.asVoid(
            Children.all(
              Array.from({ length: 900 }, (_, i) =>
                Children.spec(double, (i === 700 ? "seven hundred" : i) as number, { key: `d${i}` })
              ),
              o.bound === undefined ? {} : { concurrency: o.bound }
            )
          )
        )
        const runtime = yield* Runtime.make({ tasks: [double, parent] })
        const store = yield* TaskStore
        for (const input of [{}, { bound: 4 }]) {
          const handle = yield* runtime.submit(parent, input)
          assert.strictEqual((yield* Effect.flip(handle.await))._tag, "InvalidTaskInput")
          // every child created ends here, run or cancelled with its queue; none waits for its lease to expire
          let idle = -1
          for (let i = 0; i < 200 && idle !== 0; i++) {
            if (i > 0) yield* Effect.sleep(25)
            idle = (yield* store.childSummaries(handle.id)).filter((child) => !isTerminal(child.status)).length
          }
          const children = yield* store.childSummaries(handle.id)
          assert.isAbove(children.length, 256, "more than one batch of creates")
          const ends = new Set(children.map((child) => child.status))
          assert.deepStrictEqual(
            [...ends].sort(),
            input.bound === undefined ? ["completed"] : ["cancelled", "completed"],
            JSON.stringify(input)
          )
        }
      }),
      60_000
    )

    test(
      "never runs more than 8 of a queued fan-out of 2 000 children with a bound of 8, and ends all of them",
      Effect.gen(function* () {
        const seen = yield* queuedFanOut([yield* TaskStore], yield* Db, { parentId: "fan", count: 2_000, bound: 8 })
        assert.deepStrictEqual([seen.parentStatus, seen.completed], ["pending", 2_000])
        assert.isAtMost(seen.maxActive, 8)
        assert.isAtLeast(seen.samples, 10, "sampled while it ran")
      }),
      180_000
    )
  })
