/**
 * The contract every progress store implements: the latest progress and status message of a task in one row,
 * merged on each write, and the task's log lines, appended in batches and trimmed to the newest `keepLast` by
 * the append itself. Each operation is one statement on a SQL store.
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { StoreError } from "./errors.ts"

// The levels of the runtime's `LogWritten` events (stores do not import the runtime).
const Level = Schema.Literals(["debug", "info", "warning", "error"])

/** A task's latest progress row. A field is absent until some write gave it a value. */
export const ProgressLatest = Schema.Struct({
  taskId: Schema.String,
  /** 0..100, from the last `Progress.update`. */
  percent: Schema.optionalKey(Schema.Number),
  /** The message of the last `Progress.update` ("" when it had none). */
  message: Schema.optionalKey(Schema.String),
  /** The last `Progress.status` message. */
  status: Schema.optionalKey(Schema.String),
  /** Epoch milliseconds of the last report that changed the row. */
  updatedAt: Schema.Number
})
export type ProgressLatest = typeof ProgressLatest.Type

/** A write to the latest row: given fields replace the stored ones, absent fields keep theirs. */
export interface LatestUpdate {
  readonly percent?: number | undefined
  readonly message?: string | undefined
  readonly status?: string | undefined
  readonly updatedAt: number
}

/** One stored log line. */
export const LogEntry = Schema.Struct({
  /** Assigned by the store: grows with every line appended to the task, and is never reused for it. */
  seq: Schema.Number,
  level: Level,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Json),
  /** Epoch milliseconds at which the line was logged. */
  at: Schema.Number
})
export type LogEntry = typeof LogEntry.Type

/** A log line to append; the store assigns its `seq`. */
export interface NewLogEntry {
  readonly level: LogEntry["level"]
  readonly message: string
  readonly data?: Schema.Json | undefined
  readonly at: number
}

/** How many lines a task keeps: the append drops the oldest beyond `keepLast` (0 keeps none). */
export interface AppendOptions {
  readonly keepLast: number
}

/** Paging for `listLogs`: at most `limit` lines, oldest first, with a `seq` above `afterSeq` when it is given. */
export interface LogQuery {
  readonly limit: number
  readonly afterSeq?: number | undefined
}

export class ProgressStore extends Context.Service<
  ProgressStore,
  {
    /** Creates or merges the task's latest row (an upsert: `INSERT ... ON CONFLICT DO UPDATE` with `COALESCE`). */
    readonly setLatest: (taskId: string, update: LatestUpdate) => Effect.Effect<void, StoreError>
    readonly getLatest: (taskId: string) => Effect.Effect<Option.Option<ProgressLatest>, StoreError>
    /**
     * Appends lines in their order, then keeps only the task's newest `keepLast`, in one operation. On SQL the
     * delete of a data-modifying CTE does not see the rows its insert adds: keep the newest
     * `keepLast - entries.length` existing rows, and insert only the batch's last `keepLast` lines. One execution
     * appends a task's lines one batch at a time; appends that do run concurrently keep every line, but may leave
     * more than `keepLast` until the next append.
     */
    readonly appendLogs: (
      taskId: string,
      entries: ReadonlyArray<NewLogEntry>,
      options: AppendOptions
    ) => Effect.Effect<void, StoreError>
    /** The task's lines, oldest first; pass the last one's `seq` as `afterSeq` to read the next page. */
    readonly listLogs: (taskId: string, query: LogQuery) => Effect.Effect<ReadonlyArray<LogEntry>, StoreError>
    /** Removes the task's latest row and all its lines. */
    readonly clear: (taskId: string) => Effect.Effect<void, StoreError>
  }
>()("waypoint/stores/ProgressStore") {}
