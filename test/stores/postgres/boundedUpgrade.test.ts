/**
 * Migration 0011 on a database that a version without it left in the middle of a bounded fan-out: the children it
 * left unfinished are marked as of a bounded fan-out, so their ends go on starting the queued ones.
 */
import { assert, describe, it } from "@effect/vitest"
import { sql } from "drizzle-orm"
import { Effect, Option } from "effect"
import { PgliteStore } from "../../../src/postgres.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { databaseBefore, tempDir } from "./pgliteTemplate.ts"

const boundedMigration = "0011_bounded_children"

/** A parent, a running child (token 7, leased to "w") and a queued one, as a store before 0011 wrote them. */
const fanOutRows = sql`insert into waypoint.tasks
  (id, name, input, status, attempt, parent_id, child_key, suspend_reason, lease_owner, lease_expires_at,
   fencing_token, created_at, updated_at)
  values ('p', 'parent', 'null', 'running', 1, null, null, null, 'w', 9007199254740991, 5, 1, 1),
    ('p/a', 'child', '1', 'running', 1, 'p', 'a', null, 'w', 9007199254740991, 7, 2, 2),
    ('p/q', 'child', '2', 'suspended', 1, 'p', 'q', '{"_tag":"QueuedBehindSiblings"}', null, null, 0, 3, 3)`

describe("migration 0011 (children of bounded fan-outs)", () => {
  it.live("marks the unfinished children of a fan-out with queued children: their ends go on starting them", () =>
    Effect.gen(function* () {
      const dataDir = yield* databaseBefore(yield* tempDir, boundedMigration, fanOutRows)
      yield* Effect.gen(function* () {
        const store = yield* TaskStore
        yield* store.finish("p/a", 7, { _tag: "Completed", output: 2 })
        const queued = Option.getOrThrow(yield* store.get("p/q"))
        assert.deepStrictEqual([queued.status, queued.suspendReason], ["pending", undefined])
      }).pipe(Effect.provide(PgliteStore.layer({ dataDir })), Effect.scoped)
    })
  )
})
