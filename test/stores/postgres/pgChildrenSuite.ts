/**
 * Child tasks in the PostgreSQL task store beyond the conformance suite, run on both drivers: each child of a batched
 * finish counted by its parent, `claimChild` reading only a parent's idle children among 10 000, and a queued
 * fan-out of 2 000 that never runs more children than its bound. The layer must start each test from an empty,
 * migrated database and also provide its `Db` and `Driver`.
 */
import { assert, describe, it } from "@effect/vitest"
import { type SQLWrapper, sql } from "drizzle-orm"
import { Effect, type Layer, Option, type Scope } from "effect"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { Driver } from "../../../src/stores/postgres/Driver.ts"
import * as PgTaskStore from "../../../src/stores/postgres/PgTaskStore.ts"
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
        assert.notInclude(text, "tasks_parent_id_idx", "not through the index of every child")
        const claimed = Option.getOrThrow(yield* store.claimChild("big", ["child"], lease))
        assert.deepStrictEqual([claimed.id, claimed.status], ["big/09993", "running"])
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
