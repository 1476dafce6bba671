/**
 * What a store keeps about one task: its identity, encoded input, status, attempt, timing, outcome and lease.
 * The same Schema decodes rows read back from any store, so a corrupt row is an error, never a silent value.
 */
import { Schema, Struct } from "effect"

/** The lifecycle states of a task. */
export const TaskStatus = Schema.Literals(["pending", "running", "suspended", "completed", "failed", "cancelled"])
export type TaskStatus = typeof TaskStatus.Type

/** True for the statuses a task never leaves. */
export const isTerminal = (status: TaskStatus): boolean =>
  status === "completed" || status === "failed" || status === "cancelled"

/** Oldest first, as `list` pages tasks: by creation time, then by id. */
export const byCreation = (
  a: { readonly createdAt: number; readonly id: string },
  b: { readonly createdAt: number; readonly id: string }
): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/**
 * How a parent waits for its children: `all` (every one completes; the first that does not ends the wait),
 * `settled` (every one ends, however), `first` (one completes; or every one ends without).
 */
export const ChildWaitMode = Schema.Literals(["all", "settled", "first"])
export type ChildWaitMode = typeof ChildWaitMode.Type

/** The ends of a child that end its parent's wait of each mode at once, whatever its siblings do. */
export const endsWaitAtOnce: { readonly [M in ChildWaitMode]: ReadonlyArray<TaskStatus> } = {
  all: ["failed", "cancelled"],
  settled: [],
  first: ["completed"]
}

/**
 * Why a suspended task is not running: paused until a time, waiting for a named signal, waiting for children of its
 * own, or queued behind its siblings (a fan-out with a concurrency bound starts it when a sibling ends).
 */
export const SuspendReason = Schema.Union([
  /** Paused by the body (until a time) or from outside (no `until`: until someone resumes it). */
  Schema.TaggedStruct("Paused", { until: Schema.optionalKey(Schema.Number) }),
  Schema.TaggedStruct("WaitingForSignal", { signal: Schema.String, until: Schema.optionalKey(Schema.Number) }),
  /** Of the `total` children it waits for, `remaining` have not ended. */
  Schema.TaggedStruct("WaitingForChildren", { mode: ChildWaitMode, total: Schema.Number, remaining: Schema.Number }),
  Schema.TaggedStruct("QueuedBehindSiblings", {})
])
export type SuspendReason = typeof SuspendReason.Type

/** True for a child waiting in its parent's queue, which a sibling's end starts. */
export const isQueued = (task: {
  readonly status: TaskStatus
  readonly suspendReason?: SuspendReason | undefined
}): boolean => task.status === "suspended" && task.suspendReason?._tag === "QueuedBehindSiblings"

/** A failure as stored: enough for another process to report it. */
export const StoredError = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  data: Schema.optionalKey(Schema.Json)
})
export type StoredError = typeof StoredError.Type

/** One task as every store keeps it. Times are epoch milliseconds from the runtime's `Clock`. */
/** Where a task of a forked tree comes from: the task it continues, the tree checkpoint, and whether its input changed. */
export const ForkOrigin = Schema.Struct({
  taskId: Schema.String,
  checkpointId: Schema.String,
  /** Its input was replaced at the fork: its parent's spec, which names the old input, still finds it. */
  inputReplaced: Schema.optionalKey(Schema.Boolean)
})
export type ForkOrigin = typeof ForkOrigin.Type

/**
 * The trace a task's spans belong to, kept so that an attempt in any process, after a crash too, continues it: the
 * trace id, the span its attempts are children of (the span that created it), and its tree's root task.
 */
export const TaskTrace = Schema.Struct({
  traceId: Schema.String,
  spanId: Schema.String,
  /** The id of the root task of its tree: its own for a top-level task. */
  rootId: Schema.String
})
export type TaskTrace = typeof TaskTrace.Type

export const TaskRecord = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  input: Schema.Json,
  status: TaskStatus,
  attempt: Schema.Number,
  sessionId: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  /** A child's key among its parent's children: starting it again finds this task. */
  childKey: Schema.optionalKey(Schema.String),
  idempotencyKey: Schema.optionalKey(Schema.String),
  /** The task fails with `DeadlineExceeded` if it has not ended by this time; a child's is no later than its parent's. */
  deadline: Schema.optionalKey(Schema.Number),
  output: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(StoredError),
  suspendReason: Schema.optionalKey(SuspendReason),
  /** A pending or suspended task is not runnable before this time. */
  runAt: Schema.optionalKey(Schema.Number),
  leaseOwner: Schema.optionalKey(Schema.String),
  leaseExpiresAt: Schema.optionalKey(Schema.Number),
  /** Grows with every claim; every write of an attempt carries it. */
  fencingToken: Schema.Number,
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  startedAt: Schema.optionalKey(Schema.Number),
  finishedAt: Schema.optionalKey(Schema.Number),
  /** In a tree forked from a checkpoint: what it was forked from. */
  forkedFrom: Schema.optionalKey(ForkOrigin),
  /** Its trace context, fixed at its create; absent for a task stored without one (before traces were kept). */
  trace: Schema.optionalKey(TaskTrace),
  /**
   * Only in the answer of a claim (`claim`, `claimChild`): `true` when that claim was the task's first ever (it had
   * never started), so no earlier execution can have written its steps or state. Never stored; absent means "not
   * known to be first", which is always safe. (A `create` with a lease is a first claim by itself.)
   */
  firstClaim: Schema.optionalKey(Schema.Boolean)
})
export type TaskRecord = typeof TaskRecord.Type

/** A task without its input and output, which may be large: what a listing shows (`TaskStore.listSummaries`). */
export const TaskSummary = TaskRecord.mapFields(Struct.omit(["input", "output"]))
export type TaskSummary = typeof TaskSummary.Type
