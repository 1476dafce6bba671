/**
 * Snapshot integrity on PostgreSQL: the conformance suite's integrity tests, with rows damaged by raw SQL, on PGlite
 * and (with DATABASE_URL) a server; rows written before migration 0006, which have no checksum; and that migration
 * on a database that holds snapshots already.
 */
import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { and, eq, getTableColumns, sql } from "drizzle-orm"
import { drizzle } from "drizzle-orm/pglite"
import { Effect, Option } from "effect"
import { PgliteStore } from "../../../src/postgres.ts"
import { Db } from "../../../src/stores/postgres/Db.ts"
import { attempt } from "../../../src/stores/postgres/internal/attempt.ts"
import { snapshots } from "../../../src/stores/postgres/schema.ts"
import { canonicalJson, SnapshotStore, snapshotChecksum } from "../../../src/stores/SnapshotStore.ts"
import { type CorruptSnapshot, snapshotIntegritySuite } from "../../../src/testing/snapshotIntegritySuite.ts"
import { databaseBefore, layerFrom, makeTemplate, tempDir } from "./pgliteTemplate.ts"
import * as TestDatabase from "./TestDatabase.ts"

const columns = { ...getTableColumns(snapshots), data: sql<string>`${snapshots.data}::text` }
const at = (taskId: string, version: number) => and(eq(snapshots.taskId, taskId), eq(snapshots.version, version))

/** Reads the row at `at` and writes `change` of it back over it with an UPDATE, as a stray edit would. */
const corrupt: CorruptSnapshot<Db> = (target, change) =>
  Effect.gen(function* () {
    const db = yield* Db
    const [row] = yield* attempt("corrupt", () =>
      db.select(columns).from(snapshots).where(at(target.taskId, target.version))
    )
    if (row === undefined) return yield* Effect.die(new Error(`no row ${target.taskId}@${target.version}`))
    const { record, checksum } = change({
      record: {
        id: row.id,
        taskId: row.taskId,
        version: row.version,
        data: JSON.parse(row.data),
        checkpoint: row.checkpoint,
        createdAt: row.createdAt,
        ...(row.dataVersion === null ? {} : { dataVersion: row.dataVersion }),
        ...(row.originTaskId === null || row.originVersion === null
          ? {}
          : { origin: { taskId: row.originTaskId, version: row.originVersion } })
      },
      checksum: row.checksum ?? ""
    })
    yield* attempt("corrupt", () =>
      db
        .update(snapshots)
        .set({
          taskId: record.taskId,
          version: record.version,
          id: record.id,
          data: sql`${canonicalJson(record.data)}::text::jsonb`,
          checkpoint: record.checkpoint,
          createdAt: record.createdAt,
          dataVersion: record.dataVersion ?? null,
          originTaskId: record.origin?.taskId ?? null,
          originVersion: record.origin?.version ?? null,
          checksum
        })
        .where(at(target.taskId, target.version))
    )
  })

const template = await Effect.runPromise(makeTemplate)
snapshotIntegritySuite("pglite", layerFrom(template), corrupt)

describe.skipIf(TestDatabase.noServer)("PgSnapshotStore on a server: needs DATABASE_URL", () => {
  snapshotIntegritySuite("postgres", TestDatabase.shared().layer, corrupt)
})

/** The migration that added the checksum column. */
const checksumMigration = "0006_snapshot_checksum"

/** Two snapshots of task "old" as a store before migration 0006 wrote them: no checksum. */
const legacyRows = sql`insert into waypoint.snapshots (task_id, version, id, data, checkpoint, created_at)
  values ('old', 1, gen_random_uuid(), '{"step": 1}', false, 1000),
    ('old', 2, gen_random_uuid(), '{"step": 2, "notes": ["a", "b"]}', true, 2000)`

describe("PgSnapshotStore checksums", () => {
  it.effect("reads a row without a checksum (written before migration 0006) as it was, unverified", () =>
    Effect.gen(function* () {
      const store = yield* SnapshotStore
      const db = yield* Db
      const saved = yield* store.save({ taskId: "t", data: { step: 1 }, checkpoint: false })
      yield* attempt("legacy", () => db.update(snapshots).set({ checksum: null }).where(at("t", 1)))
      assert.deepStrictEqual(yield* store.get("t", 1), Option.some(saved))
    }).pipe(Effect.provide(layerFrom(template)))
  )

  it.effect("stores the checksum the SQL statement computed, equal to the one JavaScript computes", () =>
    Effect.gen(function* () {
      const store = yield* SnapshotStore
      const db = yield* Db
      const saved = yield* store.save({ taskId: "t", data: { b: [1, "é"], a: null }, checkpoint: true, dataVersion: 4 })
      const [row] = yield* attempt("read", () => db.select(columns).from(snapshots).where(at("t", 1)))
      assert.strictEqual(row?.checksum, yield* snapshotChecksum(saved, canonicalJson(saved.data)))
      assert.deepStrictEqual(yield* store.latest("t"), Option.some(saved))
    }).pipe(Effect.provide(layerFrom(template)))
  )

  it.live("migrates a database holding snapshots: they read and list as before, and new ones are checked", () =>
    Effect.gen(function* () {
      // the migrations up to 0005 alone, as an earlier version shipped them, and snapshots it wrote
      const dataDir = yield* databaseBefore(yield* tempDir, checksumMigration, legacyRows)

      const readBack = Effect.gen(function* () {
        const store = yield* SnapshotStore
        const latest = Option.getOrThrow(yield* store.latest("old"))
        assert.deepStrictEqual(
          [latest.version, latest.data, latest.checkpoint],
          [2, { step: 2, notes: ["a", "b"] }, true]
        )
        assert.deepStrictEqual(
          Option.map(yield* store.get("old", 1), (s) => s.data),
          Option.some({ step: 1 })
        )
        assert.deepStrictEqual(
          (yield* store.list("old", { limit: 10 })).items.map((s) => s.version),
          [2, 1]
        )
        // rows from before migration 0007 have no recorded size: a summary measures their data
        assert.deepStrictEqual(
          (yield* store.listSummaries("old", { limit: 10 })).items.map((s) => [s.version, s.dataSizeBytes]),
          [
            [2, JSON.stringify({ step: 2, notes: ["a", "b"] }).length],
            [1, JSON.stringify({ step: 1 }).length]
          ]
        )
        const next = yield* store.save({ taskId: "old", data: { step: 3 }, checkpoint: false })
        assert.strictEqual(next.version, 3)
        const forked = yield* store.fork({ taskId: "old", version: 1 }, "copy")
        assert.strictEqual(forked._tag, "Forked")
        return [next, forked._tag === "Forked" ? forked.snapshot : undefined] as const
      })
      const [next, copy] = yield* readBack.pipe(Effect.provide(PgliteStore.layer({ dataDir })), Effect.scoped)

      // the rows written since carry checksums: damaged behind the store's back, they are refused
      yield* Effect.promise(async () => {
        const client = await PGlite.create({ dataDir })
        await drizzle(client).execute(
          sql`update waypoint.snapshots set data = '{"step": 4}' where checksum is not null`
        )
        await client.close()
      })
      const after = Effect.gen(function* () {
        const store = yield* SnapshotStore
        const refused = yield* Effect.flip(store.get("old", 3))
        assert.deepInclude(refused, { _tag: "SnapshotCorrupted", key: "old", version: 3 })
        assert.deepInclude(yield* Effect.flip(store.latest("copy")), {
          _tag: "SnapshotCorrupted",
          key: "copy",
          version: 1
        })
        assert.deepStrictEqual(
          Option.map(yield* store.get("old", 1), (s) => s.data),
          Option.some({ step: 1 })
        )
      })
      yield* after.pipe(Effect.provide(PgliteStore.layer({ dataDir })), Effect.scoped)
      assert.deepStrictEqual(
        [next.data, copy?.data, copy?.origin],
        [{ step: 3 }, { step: 1 }, { taskId: "old", version: 1 }]
      )
    }).pipe(Effect.scoped)
  )
})
