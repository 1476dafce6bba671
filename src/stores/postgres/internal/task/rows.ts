/**
 * What the task store's statements return and take: the columns, named as `TaskRecord` names them, how a returned row
 * becomes a `TaskRecord`, and how JSON values and placeholders are written into a statement.
 */

import { Effect, Exit, Schema, Struct } from "effect"
import { StoreError } from "../../../errors.ts"
import { ForkOrigin, StoredError, SuspendReason, TaskRecord, TaskStatus, TaskTrace } from "../../../TaskRecord.ts"
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

/** `columns` each named as `TaskRecord` names it, for the `Driver`'s statements (whose rows drizzle does not map). */
const namedAs = (columns: Record<string, SQLWrapper>) => {
  const aliased: Record<string, SQL.Aliased> = {}
  for (const [key, column] of Object.entries(columns)) aliased[key] = sql`${column}`.as(key)
  return aliased
}

/** The columns of `returned`, and `extra`, each named as `TaskRecord` names it. */
export const named = (extra: Record<string, SQLWrapper> = {}) => namedAs({ ...returned, ...extra })
export const returnedNamed = named()

/**
 * The columns a write returns. `inStatement` (PGlite): with a column that wakes workers for each row returned for
 * which `when` holds (reading NULL, so it drops); otherwise the wake-up is sent after the commit.
 */
export const returnedWaking = (inStatement: boolean, when?: SQL) =>
  inStatement ? named({ notified: notifyWork(tasks.runAt, when) }) : returnedNamed

/** The same columns without `input` and `output`, for a listing of summaries (`TaskSummary`). */
export const returnedSummary = Struct.omit(returned, ["input", "output"])
export const returnedSummaryNamed = namedAs(returnedSummary)

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

const statuses: ReadonlySet<unknown> = new Set(TaskStatus.literals)
const requiredStrings = ["id", "name"] as const
const optionalStrings = ["sessionId", "parentId", "childKey", "idempotencyKey", "leaseOwner"] as const
const requiredNumbers = ["attempt", "fencingToken", "createdAt", "updatedAt"] as const
const optionalNumbers = ["deadline", "runAt", "leaseExpiresAt", "startedAt", "finishedAt"] as const
// JSON columns with a schema of their own: a row with any of them takes the schema's decoding
const structured = ["error", "suspendReason", "forkedFrom", "trace"] as const

/**
 * Whether JSON text may hold a number past a double's range, which `JSON.parse` reads as `Infinity` and the schema
 * refuses (written by another client: this store writes `JSON.stringify`'s text): such a row takes the schema's way.
 */
const mayOverflow = (text: unknown): boolean => typeof text === "string" && /\d{309}|\d[eE]\+?\d{3}/.test(text)

/**
 * The record of the most common row, built by hand: every column of the type its schema says, no JSON column but the
 * input and the output (which are any JSON). A write of a task returns such a row twice
 * in its life at least, and the schema's decoding costs about 4 µs of it (a CPU profile of 10 000 tasks on a server).
 * `undefined` for any other row, which the schema decodes (and refuses with its issue).
 */
const fastRecord = (row: Record<string, unknown>, withInputOutput: boolean): TaskRecord | undefined => {
  const record: Record<string, unknown> = {}
  for (const key of requiredStrings) {
    const value = row[key]
    if (typeof value !== "string") return undefined
    record[key] = value
  }
  if (!statuses.has(row.status)) return undefined
  record.status = row.status
  for (const key of requiredNumbers) {
    const value = row[key]
    if (typeof value !== "number") return undefined
    record[key] = value
  }
  for (const key of optionalStrings) {
    const value = row[key]
    if (value === null || value === undefined) continue
    if (typeof value !== "string") return undefined
    record[key] = value
  }
  for (const key of optionalNumbers) {
    const value = row[key]
    if (value === null || value === undefined) continue
    if (typeof value !== "number") return undefined
    record[key] = value
  }
  for (const key of structured) if (row[key] !== null && row[key] !== undefined) return undefined
  if (typeof row.firstClaim === "boolean") record.firstClaim = row.firstClaim
  else if (row.firstClaim !== null && row.firstClaim !== undefined) return undefined
  if (withInputOutput) {
    if (typeof row.input !== "string" || mayOverflow(row.input) || mayOverflow(row.output)) return undefined
    try {
      record.input = JSON.parse(row.input)
      if (typeof row.output === "string") record.output = JSON.parse(row.output)
      else if (row.output !== null && row.output !== undefined) return undefined
    } catch {
      return undefined
    }
  }
  return record as TaskRecord
}

/**
 * Decodes a row with `schema`, its NULL columns dropped (an absent field); a failure is a `StoreError`. The common
 * row is built by hand (`fastRecord`), to the same record. An `Exit`, which is an effect: a batch's rows are decoded
 * one after another with no step each.
 */
const decoder = <A>(schema: Schema.Decoder<A>, withInputOutput: boolean) => {
  const decode = Schema.decodeUnknownExit(schema as Schema.Codec<A, unknown>)
  return (operation: string) =>
    (row: Record<string, unknown>): Exit.Exit<A, StoreError> => {
      const fast = fastRecord(row, withInputOutput)
      if (fast !== undefined) return Exit.succeed(fast as A)
      const present: Record<string, unknown> = {}
      for (const key in row) if (row[key] !== null) present[key] = row[key]
      return Exit.mapError(decode(present), (cause) => new StoreError({ operation, cause }))
    }
}
export const toRecord = decoder(TaskRow, true)
export const toSummary = decoder(SummaryRow, false)

export const firstRecord = (operation: string) => (rows: Rows) =>
  rows.length === 0 ? Effect.succeedNone : Effect.asSome(toRecord(operation)(rows[0] as Record<string, unknown>))

/** A JSON value as the text a `jsonb(...)` parameter takes; `undefined` is stored as SQL NULL. */
export const jsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

export const param = (name: string): SQL => sql`${sql.placeholder(name)}`
// cast from text, so that neither driver re-encodes the JSON text it is given
export const jsonb = (name: string): SQL => sql`${sql.placeholder(name)}::text::jsonb`

export const nextFencingToken = sql.raw(`nextval('"${fencingTokens.schema}"."${fencingTokens.seqName}"')`)
