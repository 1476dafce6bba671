/**
 * Migration 0017 on a database an earlier version wrote children into: the two indexes of a parent's children become
 * one, and every child, with a key or without, is still found by its parent, and a key still names one child.
 */
import { assert, describe, it } from "@effect/vitest"
import { sql } from "drizzle-orm"
import { Effect } from "effect"
import { PgliteStore } from "../../../src/postgres.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { databaseBefore, tempDir } from "./pgliteTemplate.ts"

const childrenIndexMigration = "0017_children_index"

/** A parent, a child with a key and one without, and another parent's child of the same key, as written before 0017. */
const childRows = sql`insert into waypoint.tasks (id, name, input, status, attempt, parent_id, child_key, created_at,
    updated_at)
  values ('p', 'parent', 'null', 'running', 1, null, null, 1, 1),
    ('p/a', 'child', '1', 'pending', 1, 'p', 'a', 2, 2),
    ('p/n', 'child', '2', 'completed', 1, 'p', null, 3, 3),
    ('q/a', 'child', '3', 'pending', 1, 'q', 'a', 4, 4)`

describe("migration 0017 (one index of a parent's children)", () => {
  it.live("keeps every child of an earlier version found by its parent, and its key naming it alone", () =>
    Effect.gen(function* () {
      const dataDir = yield* databaseBefore(yield* tempDir, childrenIndexMigration, childRows)
      yield* Effect.gen(function* () {
        const store = yield* TaskStore
        const ids = (records: ReadonlyArray<{ readonly id: string }>) => records.map((record) => record.id).sort()
        assert.deepStrictEqual(ids(yield* store.children("p")), ["p/a", "p/n"])
        assert.deepStrictEqual(ids((yield* store.list({ parentId: "p" })).items), ["p/a", "p/n"])
        // the key names the child written before: no second one
        const again = yield* store.create({ id: "p/a2", name: "child", input: 1, parentId: "p", childKey: "a" })
        assert.strictEqual(again.id, "p/a")
        // a child without a key is one more child
        const keyless = yield* store.create({ id: "p/n2", name: "child", input: 2, parentId: "p" })
        assert.strictEqual(keyless.id, "p/n2")
        assert.deepStrictEqual(ids(yield* store.childSummaries("p")), ["p/a", "p/n", "p/n2"])
      }).pipe(Effect.provide(PgliteStore.layer({ dataDir })), Effect.scoped)
    })
  )
})
