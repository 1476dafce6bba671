/**
 * The columns the task store's statements return and how a returned row becomes a `TaskRecord`, shared by the
 * single-row statements (`PgTaskStore.ts`) and the batched ones (`taskBatches.ts`).
 */
import { getTableColumns, type SQL, type SQLWrapper, sql } from "drizzle-orm"
import { Effect, Schema } from "effect"
import { StoreError } from "../../errors.ts"
import { StoredError, SuspendReason, TaskRecord } from "../../TaskRecord.ts"
import type { Rows } from "../Driver.ts"
import { notifyWork } from "../Notifications.ts"
import { fencingTokens, tasks } from "../schema.ts"

/**
 * What every statement returns: the columns, with jsonb read as text. Drizzle's jsonb decoder would parse a JSON
 * string that looks like JSON a second time (`"123"` read back as `123`) and cannot tell SQL NULL (no output) from
 * JSON `null` (an output of `null`); as text, both are unambiguous.
 */
export const returned = {
  ...getTableColumns(tasks),
  input: sql<string>`${tasks.input}::text`,
  output: sql<string | null>`${tasks.output}::text`,
  error: sql<string | null>`${tasks.error}::text`,
  suspendReason: sql<string | null>`${tasks.suspendReason}::text`
}

/**
 * The same columns, each named as `TaskRecord` names it, for the statements run on the `Driver` (whose rows are not
 * mapped by drizzle); `extra` adds columns.
 */
export const named = (extra: Record<string, SQLWrapper> = {}) => {
  const columns: Record<string, SQL.Aliased> = {}
  for (const [key, column] of Object.entries({ ...returned, ...extra })) columns[key] = sql`${column}`.as(key)
  return columns
}
export const returnedNamed = named()
/** The same, from a statement that wakes workers for each row it returns; the extra column reads NULL, so it drops. */
export const returnedNotifying = named({ notified: notifyWork(tasks.runAt) })

/** A row as the drivers return it, decoded to a `TaskRecord` (after its null columns are dropped). */
const TaskRow = Schema.Struct({
  ...TaskRecord.fields,
  input: Schema.fromJsonString(Schema.Json),
  output: Schema.optionalKey(Schema.fromJsonString(Schema.Json)),
  error: Schema.optionalKey(Schema.fromJsonString(StoredError)),
  suspendReason: Schema.optionalKey(Schema.fromJsonString(SuspendReason))
})
const decodeRow = Schema.decodeUnknownEffect(TaskRow)

export const toRecord = (operation: string) => (row: Record<string, unknown>) => {
  const present: Record<string, unknown> = {}
  for (const key in row) if (row[key] !== null) present[key] = row[key]
  return Effect.mapError(decodeRow(present), (cause) => new StoreError({ operation, cause }))
}

export const firstRecord = (operation: string) => (rows: Rows) =>
  rows.length === 0 ? Effect.succeedNone : Effect.asSome(toRecord(operation)(rows[0] as Record<string, unknown>))

/** A JSON value as the text a `jsonb(...)` parameter takes; `undefined` is stored as SQL NULL. */
export const jsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

export const param = (name: string): SQL => sql`${sql.placeholder(name)}`
// cast from text, so that neither driver re-encodes the JSON text it is given
export const jsonb = (name: string): SQL => sql`${sql.placeholder(name)}::text::jsonb`

export const nextFencingToken = sql.raw(`nextval('"${fencingTokens.schema}"."${fencingTokens.seqName}"')`)

/**
 * Requests another process made of a running task (`requestCancel`, `requestPause`), as the claims and finishes of
 * both statement forms read them. A cancel asked wins over a pause.
 */
const cancelAsked = sql`${tasks.cancelRequested}`
const pauseAsked = sql`(${tasks.pauseRequested} and not ${tasks.cancelRequested})`
const anyAsked = sql`(${tasks.cancelRequested} or ${tasks.pauseRequested})`
/** The suspension reason of a paused task, as jsonb. */
const pausedReason = sql`'{"_tag":"Paused"}'::jsonb`

/**
 * What a claim writes, at `now`, for a lease of `owner` until `expiresAt` (each an SQL bigint or text expression): a
 * task whose cancel was asked is not claimed but recorded `cancelled`; one whose pause was asked, `suspended`
 * (`Paused`, with no due time, until a wake). Either way it keeps no lease, and the claim's row says so by its status.
 */
export const claimedUnlessAsked = (owner: SQL, expiresAt: SQL, now: SQL) => ({
  status: sql`case when ${cancelAsked} then 'cancelled' when ${pauseAsked} then 'suspended' else 'running' end`,
  leaseOwner: sql`case when ${anyAsked} then null else ${owner} end`,
  leaseExpiresAt: sql`case when ${anyAsked} then null else ${expiresAt} end`,
  fencingToken: nextFencingToken,
  runAt: null,
  suspendReason: sql`case when ${pauseAsked} then ${pausedReason} end`,
  pauseRequested: false,
  updatedAt: now,
  startedAt: sql`coalesce(${tasks.startedAt}, ${now})`,
  finishedAt: sql`case when ${cancelAsked} then ${now} else ${tasks.finishedAt} end`
})

/**
 * What a fenced `Suspended` or `Requeued` finish writes over what its transition sets (`status`, `runAt`,
 * `suspendReason`, `attempt` and `error`, each an SQL expression), when another process asked for the task's cancel
 * (it ends `cancelled`, keeping its attempt and error) or pause (it is paused, at the attempt a requeue gives it,
 * with its error). `applies` says whether the transition is one of the two (the batched statement mixes them).
 * The pause request is applied or moot once an attempt ends, so it is cleared.
 */
export const finishedUnlessAsked = (
  applies: SQL,
  now: SQL,
  transition: { status: SQL; runAt: SQL; suspendReason: SQL; attempt: SQL; error: SQL; finishedAt: SQL }
) => {
  const cancel = sql`(${cancelAsked} and ${applies})`
  const pause = sql`(${pauseAsked} and ${applies})`
  return {
    status: sql`case when ${cancel} then 'cancelled' when ${pause} then 'suspended' else ${transition.status} end`,
    runAt: sql`case when ${cancel} or ${pause} then null else ${transition.runAt} end`,
    suspendReason: sql`case when ${cancel} then null when ${pause} then ${pausedReason} else ${transition.suspendReason} end`,
    attempt: sql`case when ${cancel} then ${tasks.attempt} else ${transition.attempt} end`,
    error: sql`case when ${cancel} then ${tasks.error} else ${transition.error} end`,
    finishedAt: sql`case when ${cancel} then ${now} else ${transition.finishedAt} end`,
    pauseRequested: false
  }
}
