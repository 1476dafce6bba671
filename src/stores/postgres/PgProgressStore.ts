/**
 * The `ProgressStore` on PostgreSQL (a server or PGlite). Every operation is one statement: `setLatest` is an upsert
 * that keeps the fields a write leaves out, and `appendLogs` inserts a batch and trims the task's older lines in the
 * same statement. `seq` comes from the table's sequence, so it grows across tasks and processes and is never reused.
 */

import { Effect, Layer, type Option, Schema } from "effect"
import { StoreError } from "../errors.ts"
import {
  type AppendOptions,
  type LatestUpdate,
  LogEntry,
  type LogQuery,
  type NewLogEntry,
  ProgressLatest,
  ProgressStore
} from "../ProgressStore.ts"
import { Db } from "./Db.ts"
import { attempt } from "./internal/attempt.ts"
import { and, asc, eq, gt, type SQL, sql } from "./internal/drizzle.ts"
import { progressLatest, progressLogs } from "./schema.ts"

/** Copies a row without its SQL NULL columns: they are the fields a record does not have. */
const present = (row: Record<string, unknown>): Record<string, unknown> => {
  const fields: Record<string, unknown> = {}
  for (const key in row) if (row[key] !== null) fields[key] = row[key]
  return fields
}

/** A decoder of rows whose failure is a `StoreError` of `operation`; the parser is made once. */
const decodeWith = <A>(schema: Schema.Decoder<A>, operation: string) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (row: Record<string, unknown>): Effect.Effect<A, StoreError> =>
    Effect.mapError(decode(present(row)), (cause) => new StoreError({ operation, cause }))
}

/** A log row as the drivers return it: `data` is jsonb read as text, SQL NULL when the line has none. */
const LogRow = Schema.Struct({ ...LogEntry.fields, data: Schema.optionalKey(Schema.fromJsonString(Schema.Json)) })
const decodeLatest = decodeWith(ProgressLatest, "getLatest")
const decodeLog = decodeWith(LogRow, "listLogs")

// a parameter of raw SQL with its type written out: no column next to it tells the server what it is
const typed = (name: string, type: string): SQL => sql`${sql.placeholder(name)}::${sql.raw(type)}`

/** Counts beyond this are "all of them"; it keeps `limit` and `offset` parameters valid `bigint`s. */
const unbounded = Number.MAX_SAFE_INTEGER

/** A count from a caller: whole, at least 0, and `unbounded` for anything larger (or not a number). */
const countOf = (n: number): number => (Number.isNaN(n) ? unbounded : Math.min(Math.max(0, Math.floor(n)), unbounded))

/** Builds the progress store over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db

  // A field the write leaves out arrives as NULL and keeps the stored value; 0 and "" are values, not NULL.
  const setLatestStatement = db
    .insert(progressLatest)
    .values({
      taskId: sql.placeholder("taskId"),
      percent: sql.placeholder("percent"),
      message: sql.placeholder("message"),
      status: sql.placeholder("status"),
      updatedAt: sql.placeholder("updatedAt")
    })
    .onConflictDoUpdate({
      target: progressLatest.taskId,
      set: {
        percent: sql`coalesce(excluded.percent, ${progressLatest.percent})`,
        message: sql`coalesce(excluded.message, ${progressLatest.message})`,
        status: sql`coalesce(excluded.status, ${progressLatest.status})`,
        updatedAt: sql`excluded.updated_at`
      }
    })
    .prepare("waypoint_progress_set_latest")

  const getLatestStatement = db
    .select()
    .from(progressLatest)
    .where(eq(progressLatest.taskId, sql.placeholder("taskId")))
    .prepare("waypoint_progress_get_latest")

  // One statement, one snapshot: the delete does not see the lines the insert adds, so it keeps the newest
  // `keepExisting` (keepLast minus the batch's length) of the stored lines; the insert keeps the lines' order in seq.
  const inserted = db.$with("inserted", { seq: sql`seq` }).as(
    sql`insert into ${progressLogs} (task_id, level, message, data, at)
      select ${typed("taskId", "text")}, line.value ->> 'level', line.value ->> 'message', line.value -> 'data',
        (line.value -> 'at')::bigint
      from jsonb_array_elements(${typed("lines", "text::jsonb")}) with ordinality as line(value, position)
      order by line.position
      returning ${progressLogs.seq}`
  )
  const trimmed = db.$with("trimmed", { seq: sql`seq` }).as(
    sql`delete from ${progressLogs}
      where ${progressLogs.taskId} = ${typed("taskId", "text")}
        and ${progressLogs.seq} <= (
          select ${progressLogs.seq} from ${progressLogs} where ${progressLogs.taskId} = ${typed("taskId", "text")}
          order by ${progressLogs.seq} desc offset ${typed("keepExisting", "bigint")} limit 1)
      returning ${progressLogs.seq}`
  )
  const appendStatement = db
    .with(inserted, trimmed)
    .select({ count: sql<number>`count(*)::int` })
    .from(inserted)
    .prepare("waypoint_progress_append_logs")

  const listLogsStatement = db
    .select({
      seq: progressLogs.seq,
      level: progressLogs.level,
      message: progressLogs.message,
      data: sql<string | null>`${progressLogs.data}::text`,
      at: progressLogs.at
    })
    .from(progressLogs)
    .where(and(eq(progressLogs.taskId, sql.placeholder("taskId")), gt(progressLogs.seq, typed("afterSeq", "bigint"))))
    .orderBy(asc(progressLogs.seq))
    .limit(sql.placeholder("limit"))
    .prepare("waypoint_progress_list_logs")

  const clearedLatest = db
    .$with("cleared_latest", { taskId: sql`task_id` })
    .as(
      sql`delete from ${progressLatest} where ${progressLatest.taskId} = ${typed("taskId", "text")} returning ${progressLatest.taskId}`
    )
  const clearStatement = db
    .with(clearedLatest)
    .delete(progressLogs)
    .where(eq(progressLogs.taskId, typed("taskId", "text")))
    .prepare("waypoint_progress_clear")

  // Reports and log batches arrive all through a task's run: untraced, as the other stores' per-step operations.
  const setLatest = (taskId: string, update: LatestUpdate): Effect.Effect<void, StoreError> =>
    Effect.asVoid(
      attempt("setLatest", () =>
        setLatestStatement.execute({
          taskId,
          percent: update.percent ?? null,
          message: update.message ?? null,
          status: update.status ?? null,
          updatedAt: update.updatedAt
        })
      )
    )

  const getLatest = (taskId: string): Effect.Effect<Option.Option<ProgressLatest>, StoreError> =>
    Effect.flatMap(
      attempt("getLatest", () => getLatestStatement.execute({ taskId })),
      (rows) => (rows[0] === undefined ? Effect.succeedNone : Effect.asSome(decodeLatest(rows[0])))
    )

  const appendLogs = (
    taskId: string,
    entries: ReadonlyArray<NewLogEntry>,
    options: AppendOptions
  ): Effect.Effect<void, StoreError> => {
    if (entries.length === 0) return Effect.void
    const keepLast = countOf(options.keepLast)
    const lines = keepLast === 0 ? [] : entries.slice(-keepLast)
    return Effect.asVoid(
      attempt("appendLogs", () =>
        appendStatement.execute({
          taskId,
          lines: JSON.stringify(lines),
          keepExisting: Math.max(0, keepLast - entries.length)
        })
      )
    )
  }

  const listLogs = Effect.fnUntraced(function* (taskId: string, query: LogQuery) {
    const limit = countOf(query.limit)
    if (limit === 0) return []
    // seqs are whole numbers from 1: above `afterSeq` is above its floor
    const after = query.afterSeq === undefined ? 0 : Math.max(0, Math.min(Math.floor(query.afterSeq), unbounded))
    const afterSeq = Number.isNaN(after) ? 0 : after
    const rows = yield* attempt("listLogs", () => listLogsStatement.execute({ taskId, afterSeq, limit }))
    return yield* Effect.forEach(rows, decodeLog)
  })

  const clear = Effect.fn("PgProgressStore.clear")(function* (taskId: string) {
    yield* attempt("clear", () => clearStatement.execute({ taskId }))
  })

  return ProgressStore.of({ setLatest, getLatest, appendLogs, listLogs, clear })
})

/** The progress store over the shared `Db`. */
export const layer: Layer.Layer<ProgressStore, never, Db> = Layer.effect(ProgressStore, make)
