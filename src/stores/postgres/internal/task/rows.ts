/**
 * What the task store's statements return and take: the columns, named as `TaskRecord` names them, how a returned row
 * becomes a `TaskRecord`, and how JSON values and placeholders are written into a statement.
 */

import { Effect, Schema, Struct } from "effect"
import { StoreError } from "../../../errors.ts"
import { ForkOrigin, StoredError, SuspendReason, TaskRecord, TaskTrace } from "../../../TaskRecord.ts"
import type { Rows } from "../../Driver.ts"
import { notifyWork } from "../../Notifications.ts"
import { fencingTokens, tasks } from "../../schema.ts"
import { getTableColumns, type SQL, type SQLWrapper, sql } from "../drizzle.ts"

/**
 * The columns, with jsonb read as text: drizzle's jsonb decoder would parse a JSON string that looks like JSON a
 * second time (`"123"` read back as `123`) and cannot tell SQL NULL (no output) from JSON `null` (an output of
 * `null`); as text, both are unambiguous.
 */
export const returned = {
  // the columns of a wait for children are the store's own, but for the count a suspension reason reads
  ...Struct.omit(getTableColumns(tasks), ["waitGen", "waitingFor", "awaitedGen", "bounded"]),
  input: sql<string>`${tasks.input}::text`,
  output: sql<string | null>`${tasks.output}::text`,
  error: sql<string | null>`${tasks.error}::text`,
  forkedFrom: sql<string | null>`${tasks.forkedFrom}::text`,
  trace: sql<string | null>`${tasks.trace}::text`,
  // a wait for children keeps its mode and total in the reason, and the children it still waits for in `waiting_for`
  suspendReason: sql<string | null>`(case when ${tasks.suspendReason}->>'_tag' = 'WaitingForChildren'
    then jsonb_set(${tasks.suspendReason}, '{remaining}', to_jsonb(coalesce(${tasks.waitingFor}, 0)))
    else ${tasks.suspendReason} end)::text`
}

/** The columns each named as `TaskRecord` names it, for the `Driver`'s statements (whose rows drizzle does not map). */
export const named = (extra: Record<string, SQLWrapper> = {}) => {
  const columns: Record<string, SQL.Aliased> = {}
  for (const [key, column] of Object.entries({ ...returned, ...extra })) columns[key] = sql`${column}`.as(key)
  return columns
}
export const returnedNamed = named()

/**
 * The columns a write returns. `inStatement` (PGlite): with a column that wakes workers for each row returned for
 * which `when` holds (reading NULL, so it drops); otherwise the wake-up is sent after the commit.
 */
export const returnedWaking = (inStatement: boolean, when?: SQL) =>
  inStatement ? named({ notified: notifyWork(tasks.runAt, when) }) : returnedNamed

/** The same columns without `input` and `output`, for a listing of summaries (`TaskSummary`). */
export const returnedSummary = Struct.omit(returned, ["input", "output"])

/** A row as the drivers return it, jsonb as text, decoded to a `TaskRecord`. */
const TaskRow = Schema.Struct({
  ...TaskRecord.fields,
  input: Schema.fromJsonString(Schema.Json),
  output: Schema.optionalKey(Schema.fromJsonString(Schema.Json)),
  error: Schema.optionalKey(Schema.fromJsonString(StoredError)),
  suspendReason: Schema.optionalKey(Schema.fromJsonString(SuspendReason)),
  forkedFrom: Schema.optionalKey(Schema.fromJsonString(ForkOrigin)),
  trace: Schema.optionalKey(Schema.fromJsonString(TaskTrace))
})
const SummaryRow = TaskRow.mapFields(Struct.omit(["input", "output"]))

/** Decodes a row with `schema`, its NULL columns dropped (an absent field); a failure is a `StoreError`. */
const decoder = <A>(schema: Schema.Decoder<A>) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (operation: string) => (row: Record<string, unknown>) => {
    const present: Record<string, unknown> = {}
    for (const key in row) if (row[key] !== null) present[key] = row[key]
    return Effect.mapError(decode(present), (cause) => new StoreError({ operation, cause }))
  }
}
export const toRecord = decoder(TaskRow)
export const toSummary = decoder(SummaryRow)

export const firstRecord = (operation: string) => (rows: Rows) =>
  rows.length === 0 ? Effect.succeedNone : Effect.asSome(toRecord(operation)(rows[0] as Record<string, unknown>))

/** A JSON value as the text a `jsonb(...)` parameter takes; `undefined` is stored as SQL NULL. */
export const jsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

export const param = (name: string): SQL => sql`${sql.placeholder(name)}`
// cast from text, so that neither driver re-encodes the JSON text it is given
export const jsonb = (name: string): SQL => sql`${sql.placeholder(name)}::text::jsonb`

export const nextFencingToken = sql.raw(`nextval('"${fencingTokens.schema}"."${fencingTokens.seqName}"')`)
