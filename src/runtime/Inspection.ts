/**
 * "Why is it stuck?": a task's record read together with its lease and the limits around it, reduced to one
 * reason a person can act on.
 */
import { Schema } from "effect"
import { ForkOrigin, isTerminal, StoredError, type TaskRecord, TaskStatus } from "../stores/TaskRecord.ts"

/** What a task is doing, or waiting for, now. */
export const StuckReason = Schema.Literals([
  "finished",
  "running",
  "lease-expired",
  "waiting-signal",
  "waiting-children",
  "queued-behind-siblings",
  "paused",
  "sleeping-until",
  "queued-behind-limit",
  "queued"
])
export type StuckReason = typeof StuckReason.Type

/** A task's state with the reason derived from it. */
export const Inspection = Schema.Struct({
  taskId: Schema.String,
  status: TaskStatus,
  attempt: Schema.Number,
  reason: StuckReason,
  /** The worker holding the lease, while running. */
  leaseOwner: Schema.optionalKey(Schema.String),
  leaseExpiresAt: Schema.optionalKey(Schema.Number),
  /** The last write of the running attempt (its claim or its latest heartbeat). */
  lastHeartbeatAt: Schema.optionalKey(Schema.Number),
  /** For `sleeping-until` and a timed wait: when the task is runnable again. */
  runAt: Schema.optionalKey(Schema.Number),
  /** For `waiting-signal`: the signal it waits for. */
  signal: Schema.optionalKey(Schema.String),
  /** For `waiting-children`: how many it waits for, how many have not ended, and the ids of the 20 oldest of those. */
  children: Schema.optionalKey(
    Schema.Struct({ total: Schema.Number, remaining: Schema.Number, waitingFor: Schema.Array(Schema.String) })
  ),
  lastError: Schema.optionalKey(StoredError),
  /** In a tree forked from a checkpoint: the task it continues, and the checkpoint. */
  forkedFrom: Schema.optionalKey(ForkOrigin)
})
export type Inspection = typeof Inspection.Type

/**
 * Derives the reason from a record, the time, how many instances of its (session, name) run now, and, for a task
 * waiting for children, the ids of those that have not ended.
 */
export const inspect = (
  record: TaskRecord,
  now: number,
  limit: { readonly maxParallel: number; readonly running: number },
  waitingFor: ReadonlyArray<string> = []
): Inspection => {
  // A runnable task waits only for a claim: behind the limit of its (session, name), or for a worker.
  const queued: StuckReason = limit.running >= limit.maxParallel ? "queued-behind-limit" : "queued"
  const reason: StuckReason = isTerminal(record.status)
    ? "finished"
    : record.status === "running"
      ? record.leaseExpiresAt !== undefined && record.leaseExpiresAt < now
        ? "lease-expired"
        : "running"
      : // Due again (a signal woke it, a timed wait or a pause's delay ended): it waits only for a claim now.
        record.runAt !== undefined && record.runAt <= now
        ? queued
        : record.suspendReason?._tag === "WaitingForSignal"
          ? "waiting-signal"
          : record.suspendReason?._tag === "WaitingForChildren"
            ? "waiting-children"
            : record.suspendReason?._tag === "QueuedBehindSiblings"
              ? "queued-behind-siblings"
              : record.runAt !== undefined
                ? "sleeping-until"
                : record.status === "suspended"
                  ? "paused"
                  : queued
  return {
    taskId: record.id,
    status: record.status,
    attempt: record.attempt,
    reason,
    ...(record.forkedFrom === undefined ? {} : { forkedFrom: record.forkedFrom }),
    ...(record.status === "running" && record.leaseOwner !== undefined
      ? { leaseOwner: record.leaseOwner, lastHeartbeatAt: record.updatedAt }
      : {}),
    ...(record.status === "running" && record.leaseExpiresAt !== undefined
      ? { leaseExpiresAt: record.leaseExpiresAt }
      : {}),
    ...(record.runAt !== undefined ? { runAt: record.runAt } : {}),
    ...(record.suspendReason?._tag === "WaitingForSignal" ? { signal: record.suspendReason.signal } : {}),
    ...(record.suspendReason?._tag === "WaitingForChildren"
      ? {
          children: {
            total: record.suspendReason.total,
            remaining: record.suspendReason.remaining,
            waitingFor: waitingFor
          }
        }
      : {}),
    ...(record.error !== undefined ? { lastError: record.error } : {})
  }
}
