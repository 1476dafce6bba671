/**
 * The `SnapshotStore` on PostgreSQL (a server or PGlite). Every operation is one statement: `save` reads the task's
 * highest version and inserts the next one in the same INSERT, and the primary key `(task_id, version)` turns a
 * concurrent save of the same version into a retry, so versions have no gaps and no duplicates across processes.
 * The same INSERT computes the row's checksum (`sha256()` over the text `snapshotChecksum` hashes, with the version
 * it assigns), and every read checks it in JavaScript before it returns the row.
 */

import { Clock, Effect, Layer, Option, Schema } from "effect"
import { StoreError } from "../errors.ts"
import {
  canonicalJson,
  type ForkResult,
  type NewSnapshot,
  type SnapshotCorrupted,
  type SnapshotOrigin,
  type SnapshotPruneOptions,
  type SnapshotQuery,
  type SnapshotRecord,
  type SnapshotRecordPage,
  SnapshotStore,
  type SnapshotSummaryPage,
  snapshotChecksum,
  snapshotChecksumHead
} from "../SnapshotStore.ts"
import { Db } from "./Db.ts"
import { attempt } from "./internal/attempt.ts"
import type { PgSelect } from "./internal/drizzle.ts"
import { and, desc, eq, lt, type SQL, sql } from "./internal/drizzle.ts"
import { firstRecord, returned, summarized, toRecord, toSummary, toWritten } from "./internal/snapshotRows.ts"
import { snapshots } from "./schema.ts"

const CountRow = Schema.Struct({ count: Schema.Number })
const decodeCount = Schema.decodeUnknownEffect(CountRow)

// a parameter of raw SQL with its type written out: no column next to it tells the server what it is
const typed = (name: string, type: string): SQL => sql`${sql.placeholder(name)}::${sql.raw(type)}`

// A save loses a race only to a save that committed the same version, so each retry follows another save's success;
// the bound only turns a bug into an error instead of a loop.
const maxSaveAttempts = 1000

/** The largest `before` a page can ask for: a version is an `integer` column, compared here as a `bigint`. */
const noUpperBound = Number.MAX_SAFE_INTEGER

/** Whether `version` can be stored at all (an `integer` column): any other number names no snapshot. */
const isStorableVersion = (version: number): boolean => Number.isInteger(version) && Math.abs(version) < 2 ** 31

/** Builds the snapshot store over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db

  const ofTask = eq(snapshots.taskId, sql.placeholder("taskId"))

  // max(version) is read from the end of the primary key's index, so the cost does not grow with the history; a save
  // that lost the version to a concurrent one returns no row and runs again. The checksum covers the version, which
  // only this statement knows, so it is computed here, over the data as sent (its canonical JSON, also measured).
  const saveStatement = db
    .insert(snapshots)
    .select(
      sql`select ${typed("taskId", "text")}, next.version, ${typed("id", "uuid")}, given.data::jsonb,
        ${typed("checkpoint", "boolean")}, ${typed("now", "bigint")}, ${typed("dataVersion", "integer")}, null, null,
        encode(sha256(convert_to(${typed("head", "text")} || given.data || ',' || next.version::text || ']', 'UTF8')),
          'hex'), octet_length(given.data)
        from (select ${typed("data", "text")} as data) as given,
          (select coalesce(max(${snapshots.version}), 0) + 1 as version from ${snapshots}
            where ${snapshots.taskId} = ${typed("taskId", "text")}) as next`
    )
    .onConflictDoNothing({ target: [snapshots.taskId, snapshots.version] })
    .returning(returned)
    .prepare("waypoint_snapshots_save")

  // backwards along the primary key: one index probe, whatever the length of the history
  const latestStatement = db
    .select(returned)
    .from(snapshots)
    .where(ofTask)
    .orderBy(desc(snapshots.version))
    .limit(1)
    .prepare("waypoint_snapshots_latest")

  const getStatement = db
    .select(returned)
    .from(snapshots)
    .where(and(ofTask, eq(snapshots.version, sql.placeholder("version"))))
    .prepare("waypoint_snapshots_get")

  /** One page of a task's snapshots, newest first, below the version `before`. */
  const pageOf = <Q extends PgSelect>(query: Q) =>
    query
      .where(and(ofTask, lt(snapshots.version, typed("before", "bigint"))))
      .orderBy(desc(snapshots.version))
      .limit(sql.placeholder("limit"))
  const listStatement = pageOf(db.select(returned).from(snapshots).$dynamic()).prepare("waypoint_snapshots_list")
  // the data is not selected: a page of large snapshots reads what their other columns weigh
  const listSummariesStatement = pageOf(db.select(summarized).from(snapshots).$dynamic()).prepare(
    "waypoint_snapshots_list_summaries"
  )

  // `where checkpoint` as written in the partial index's predicate, so that the planner can use it
  const checkpointsStatement = db
    .select(returned)
    .from(snapshots)
    .where(and(ofTask, sql`${snapshots.checkpoint}`))
    .orderBy(desc(snapshots.version))
    .prepare("waypoint_snapshots_checkpoints")

  // Removes every version older than the `keep`-th newest (none when fewer are stored); `keep` is at least 1, so the
  // latest stays and the next save continues from it.
  const removed = db.$with("removed", { version: sql`version` }).as(
    sql`delete from ${snapshots}
      where ${snapshots.taskId} = ${typed("taskId", "text")}
        and ${snapshots.version} < (
          select ${snapshots.version} from ${snapshots} where ${snapshots.taskId} = ${typed("taskId", "text")}
          order by ${snapshots.version} desc offset ${typed("keep", "bigint")} - 1 limit 1)
        and not (${typed("keepCheckpoints", "boolean")} and ${snapshots.checkpoint})
      returning ${snapshots.version}`
  )
  const pruneStatement = db
    .with(removed)
    .select({ count: sql<number>`count(*)::int` })
    .from(removed)
    .prepare("waypoint_snapshots_prune")

  // The copy is inserted only while the target has no snapshot; a save of the target racing with it conflicts on
  // version 1, and DO NOTHING then leaves the save's row (and returns none). Its checksum is computed here: the
  // source was read and checked first, since a copy made in SQL would get a checksum vouching for damaged data.
  const forkStatement = db
    .insert(snapshots)
    .select(
      sql`select ${typed("toTaskId", "text")}, 1, ${typed("id", "uuid")}, given.data::jsonb,
        ${typed("checkpoint", "boolean")}, ${typed("now", "bigint")}, ${typed("dataVersion", "integer")},
        ${typed("fromTaskId", "text")}, ${typed("fromVersion", "integer")}, ${typed("checksum", "text")},
        octet_length(given.data)
        from (select ${typed("data", "text")} as data) as given
        where not exists (select from ${snapshots} where ${snapshots.taskId} = ${typed("toTaskId", "text")})`
    )
    .onConflictDoNothing({ target: [snapshots.taskId, snapshots.version] })
    .returning(returned)
    .prepare("waypoint_snapshots_fork")

  // `save` and `latest` run once per step of a snapshotting task: untraced, as the other stores' per-step operations.
  const save = Effect.fnUntraced(function* (snapshot: NewSnapshot) {
    const params = {
      taskId: snapshot.taskId,
      data: canonicalJson(snapshot.data),
      checkpoint: snapshot.checkpoint,
      dataVersion: snapshot.dataVersion ?? null
    }
    for (let tries = 1; tries <= maxSaveAttempts; tries++) {
      const now = yield* Clock.currentTimeMillis
      const id = crypto.randomUUID()
      const head = snapshotChecksumHead({
        id,
        taskId: snapshot.taskId,
        createdAt: now,
        checkpoint: snapshot.checkpoint,
        ...(snapshot.dataVersion === undefined ? {} : { dataVersion: snapshot.dataVersion })
      })
      const rows = yield* attempt("save", () => saveStatement.execute({ ...params, id, now, head }))
      if (rows.length > 0) return yield* toWritten("save")(rows[0])
    }
    return yield* new StoreError({
      operation: "save",
      cause: new Error(`task ${snapshot.taskId}: no free version after ${maxSaveAttempts} attempts`)
    })
  })

  const latest = (taskId: string): Effect.Effect<Option.Option<SnapshotRecord>, SnapshotCorrupted | StoreError> =>
    Effect.flatMap(
      attempt("latest", () => latestStatement.execute({ taskId })),
      firstRecord("latest")
    )

  const get = (
    taskId: string,
    version: number
  ): Effect.Effect<Option.Option<SnapshotRecord>, SnapshotCorrupted | StoreError> =>
    !isStorableVersion(version)
      ? Effect.succeedNone
      : Effect.flatMap(
          attempt("get", () => getStatement.execute({ taskId, version })),
          firstRecord("get")
        )

  /** A page of `statement`'s rows, each decoded by `decode`. */
  const page = <A extends { readonly version: number }, E>(
    operation: string,
    statement: { readonly execute: (values: Record<string, unknown>) => PromiseLike<ReadonlyArray<unknown>> },
    decode: (row: unknown) => Effect.Effect<A, E>,
    taskId: string,
    query: SnapshotQuery
  ) =>
    Effect.gen(function* () {
      const limit = Math.max(1, Math.min(Math.floor(query.limit), 1000)) || 1
      // versions are whole numbers: below `before` is below its ceiling (and below NaN is nothing, as in memory)
      const ceiling = query.before === undefined ? noUpperBound : Math.ceil(query.before)
      const before = Number.isNaN(ceiling) ? 0 : Math.max(-noUpperBound, Math.min(ceiling, noUpperBound))
      const rows = yield* attempt(operation, () => statement.execute({ taskId, before, limit: limit + 1 }))
      const items = yield* Effect.forEach(rows.slice(0, limit), decode)
      const last = items.at(-1)
      return { items, nextBefore: rows.length > limit && last !== undefined ? last.version : undefined }
    })

  const list = Effect.fn("PgSnapshotStore.list")(function* (taskId: string, query: SnapshotQuery) {
    return (yield* page("list", listStatement, toRecord("list"), taskId, query)) satisfies SnapshotRecordPage
  })

  const listSummaries = Effect.fn("PgSnapshotStore.listSummaries")(function* (taskId: string, query: SnapshotQuery) {
    return (yield* page(
      "listSummaries",
      listSummariesStatement,
      toSummary("listSummaries"),
      taskId,
      query
    )) satisfies SnapshotSummaryPage
  })

  const checkpoints = Effect.fn("PgSnapshotStore.checkpoints")(function* (taskId: string) {
    const rows = yield* attempt("checkpoints", () => checkpointsStatement.execute({ taskId }))
    return yield* Effect.forEach(rows, toRecord("checkpoints"))
  })

  const prune = Effect.fn("PgSnapshotStore.prune")(function* (taskId: string, options: SnapshotPruneOptions) {
    const keep = Math.max(1, Math.floor(options.keepLast))
    // keeping more than any task can have (or a keepLast that is not a number) removes nothing
    if (!(keep <= noUpperBound)) return 0
    const rows = yield* attempt("prune", () =>
      pruneStatement.execute({ taskId, keep, keepCheckpoints: options.keepCheckpoints })
    )
    const row = yield* Effect.mapError(decodeCount(rows[0]), (cause) => new StoreError({ operation: "prune", cause }))
    return row.count
  })

  const fork = Effect.fn("PgSnapshotStore.fork")(function* (from: SnapshotOrigin, toTaskId: string) {
    const source = yield* get(from.taskId, from.version)
    if (Option.isNone(source)) return { _tag: "SourceMissing" } satisfies ForkResult
    const now = yield* Clock.currentTimeMillis
    const { data, ...copied } = source.value
    const snapshot = {
      id: crypto.randomUUID(),
      taskId: toTaskId,
      version: 1,
      checkpoint: copied.checkpoint,
      createdAt: now,
      ...(copied.dataVersion === undefined ? {} : { dataVersion: copied.dataVersion }),
      origin: { taskId: from.taskId, version: from.version }
    }
    const dataText = canonicalJson(data)
    const checksum = yield* snapshotChecksum(snapshot, dataText)
    const rows = yield* attempt("fork", () =>
      forkStatement.execute({
        toTaskId,
        id: snapshot.id,
        data: dataText,
        checkpoint: snapshot.checkpoint,
        now,
        dataVersion: snapshot.dataVersion ?? null,
        fromTaskId: from.taskId,
        fromVersion: from.version,
        checksum
      })
    )
    if (rows.length === 0) return { _tag: "TargetNotEmpty" } satisfies ForkResult
    return { _tag: "Forked", snapshot: yield* toWritten("fork")(rows[0]) } satisfies ForkResult
  })

  return SnapshotStore.of({ save, latest, get, list, listSummaries, checkpoints, prune, fork })
})

/** The snapshot store over the shared `Db`. */
export const layer: Layer.Layer<SnapshotStore, never, Db> = Layer.effect(SnapshotStore, make)
