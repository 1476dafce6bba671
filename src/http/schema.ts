/**
 * The JSON shapes the HTTP API answers with. The same Schemas type the handlers and generate the OpenAPI document,
 * so the document cannot drift from the answers. Times are RFC 3339 strings in UTC.
 */
import { DateTime, Effect, Schema } from "effect"
import {
  type CheckpointInfo,
  ChildWaitMode,
  ForkOrigin,
  Inspection,
  InvalidCursor,
  type LogEntry,
  type ProgressLatest,
  RunTree,
  type SnapshotRecord,
  type SnapshotSummary,
  type SnapshotSummaryPage,
  type StateEntry,
  StoredError,
  type SuspendReason,
  type TaskEvent,
  type TaskRecord,
  TaskStatus,
  type TaskSummary
} from "../index.ts"
import { cut, hasControlCharacter } from "./internal/text.ts"

const Time = Schema.String.annotate({ format: "date-time" })

/** Why a task is suspended, as the API shows it: its time as a string, like every time here. */
export const SuspendReasonView = Schema.Union([
  Schema.TaggedStruct("Paused", { until: Schema.optionalKey(Time) }),
  Schema.TaggedStruct("WaitingForSignal", { signal: Schema.String, until: Schema.optionalKey(Time) }),
  Schema.TaggedStruct("WaitingForChildren", { mode: ChildWaitMode, total: Schema.Number, remaining: Schema.Number }),
  Schema.TaggedStruct("QueuedBehindSiblings", {})
]).annotate({
  identifier: "SuspendReason",
  description:
    "Paused (until a time, or until resumed), waiting for a signal, waiting for children, or queued behind siblings."
})
export type SuspendReasonView = typeof SuspendReasonView.Type

/** `runtime.inspect`'s answer, as the API shows it: its times as strings. */
export const InspectionView = Inspection.mapFields((fields) => ({
  ...fields,
  leaseExpiresAt: Schema.optionalKey(Time),
  lastHeartbeatAt: Schema.optionalKey(Time),
  runAt: Schema.optionalKey(Time)
})).annotate({ identifier: "Inspection", description: "Why a task is where it is, and since when." })
export type InspectionView = typeof InspectionView.Type

/** A task of a run tree, as the API shows it: its times as strings, like every time here. */
export const RunTreeNodeView = RunTree.RunTreeNode.mapFields((fields) => ({
  ...fields,
  suspendReason: Schema.optionalKey(SuspendReasonView),
  progress: Schema.optionalKey(
    Schema.Struct({
      percent: Schema.optionalKey(Schema.Finite),
      message: Schema.optionalKey(Schema.String),
      status: Schema.optionalKey(Schema.String),
      updatedAt: Time
    })
  ),
  createdAt: Time,
  startedAt: Schema.optionalKey(Time),
  finishedAt: Schema.optionalKey(Time)
})).annotate({ identifier: "RunTreeNode", description: "A task of a run tree, named by its key path." })
export type RunTreeNodeView = typeof RunTreeNodeView.Type

export const RunTreeView = Schema.Struct({ rootId: Schema.String, nodes: Schema.Array(RunTreeNodeView) }).annotate({
  identifier: "RunTree",
  description: "A task and every task under it, read at one instant: the task first, each task after its parent."
})
export type RunTreeView = typeof RunTreeView.Type

/** A task's latest progress, as `GET /tasks/{id}` shows it. */
export const ProgressView = Schema.Struct({
  /** 0..100, from the last `Progress.update`. */
  percent: Schema.optionalKey(Schema.Finite),
  message: Schema.optionalKey(Schema.String),
  /** The last `Progress.status` message. */
  status: Schema.optionalKey(Schema.String),
  updatedAt: Time
}).annotate({ identifier: "Progress", description: "A task's latest progress report and status message." })
export type ProgressView = typeof ProgressView.Type

/** One stored log line of a task. */
export const LogEntryView = Schema.Struct({
  /** Grows with every line of the task: `?after=<seq>` reads the lines after this one. */
  seq: Schema.Number,
  level: Schema.Literals(["debug", "info", "warning", "error"]),
  message: Schema.String,
  data: Schema.optionalKey(Schema.Json),
  at: Time
}).annotate({ identifier: "LogEntry", description: "A line a task logged (`Progress.log`), as its store keeps it." })
export type LogEntryView = typeof LogEntryView.Type

export const LogPageView = Schema.Struct({ items: Schema.Array(LogEntryView) }).annotate({
  identifier: "LogPage",
  description: "A task's log lines, oldest first."
})
export type LogPageView = typeof LogPageView.Type

/** A task as the API shows it: its record without the lease and fencing internals. */
export const TaskView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: TaskStatus,
  attempt: Schema.Number,
  sessionId: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  /** A child's key among its parent's children. */
  childKey: Schema.optionalKey(Schema.String),
  /** In a tree forked from a checkpoint: the task it continues, and the checkpoint. */
  forkedFrom: Schema.optionalKey(ForkOrigin),
  input: Schema.Json,
  output: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(StoredError),
  suspendReason: Schema.optionalKey(SuspendReasonView),
  runAt: Schema.optionalKey(Time),
  createdAt: Time,
  updatedAt: Time,
  startedAt: Schema.optionalKey(Time),
  finishedAt: Schema.optionalKey(Time),
  /** When the task must have ended: past it, it fails with `DeadlineExceeded`. */
  deadline: Schema.optionalKey(Time),
  /** Only in `GET /tasks/{id}`, when the server keeps progress and the task reported some. */
  progress: Schema.optionalKey(ProgressView),
  /** Only in `GET /tasks/{id}`: why the task is where it is (running, lease expired, waiting for a signal...). */
  inspection: Schema.optionalKey(InspectionView),
  /** Only in `GET /tasks/{id}`, for a task with children: how many, and how many have ended. */
  children: Schema.optionalKey(Schema.Struct({ total: Schema.Number, ended: Schema.Number }))
}).annotate({ identifier: "Task", description: "A task: its status, attempt, output or error, and times." })
export type TaskView = typeof TaskView.Type

/** The most characters of an error message a list item carries. */
export const SUMMARY_MESSAGE_LENGTH = 1024

/**
 * A task as `GET /tasks` lists it: without its input and output, which may be large (`GET /tasks/{id}` has them), and
 * with its error's tag and message (cut to 1024 characters) but not its data, so that a page's size is bounded.
 */
export const TaskSummaryView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: TaskStatus,
  attempt: Schema.Number,
  sessionId: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  /** A child's key among its parent's children. */
  childKey: Schema.optionalKey(Schema.String),
  forkedFrom: Schema.optionalKey(ForkOrigin),
  error: Schema.optionalKey(
    Schema.Struct({
      tag: Schema.String,
      /** The first 1024 characters of the message. */
      message: Schema.String.check(Schema.isMaxLength(SUMMARY_MESSAGE_LENGTH))
    })
  ),
  suspendReason: Schema.optionalKey(SuspendReasonView),
  runAt: Schema.optionalKey(Time),
  createdAt: Time,
  updatedAt: Time,
  startedAt: Schema.optionalKey(Time),
  finishedAt: Schema.optionalKey(Time),
  deadline: Schema.optionalKey(Time)
}).annotate({
  identifier: "TaskSummary",
  description: "A task in a list: its status, attempt and times, without input or output (read the task for those)."
})
export type TaskSummaryView = typeof TaskSummaryView.Type

/**
 * A page's `nextCursor`, as it is given and taken back: the store's cursor in base64url, without padding. (A pattern
 * reaches the JSON Schema only from a RegExp with the `u` flag.)
 */
export const CursorText = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(8192),
  Schema.isPattern(/^[A-Za-z0-9_-]+$/u)
)

const encodeBase64Url = Schema.encodeSync(Schema.StringFromBase64Url)
const decodeBase64Url = Schema.decodeUnknownEffect(Schema.StringFromBase64Url)

/**
 * A store's cursor as a page gives it, over HTTP and on the command line alike (`CursorText`): one word that a URL
 * and a shell take as it is, and that either takes back.
 */
export const toCursorText = (storeCursor: string): string => encodeBase64Url(storeCursor)

/**
 * The store's cursor inside a page's cursor. Text that does not decode to one (1 to 2048 characters, no control
 * character) is no cursor a page gave, and is not handed to the store.
 */
export const fromCursorText = (cursor: string): Effect.Effect<string, InvalidCursor> =>
  decodeBase64Url(cursor).pipe(
    Effect.filterOrFail(
      (text) => text.length >= 1 && text.length <= 2048 && !hasControlCharacter(text),
      () => undefined
    ),
    Effect.mapError(() => new InvalidCursor({ cursor: cursor.slice(0, 255) }))
  )

/** One page of `GET /tasks`; pass `nextCursor` back as `cursor` for the next page. */
export const TaskPageView = Schema.Struct({
  items: Schema.Array(TaskSummaryView),
  nextCursor: Schema.optionalKey(CursorText)
}).annotate({ identifier: "TaskPage" })
export type TaskPageView = typeof TaskPageView.Type

const eventFields = {
  /** Also the SSE event id. */
  seq: Schema.Number,
  taskId: Schema.String,
  taskName: Schema.String,
  at: Time
}

/** The `data:` of each Server-Sent Event; its `event:` field is the `_tag`. */
export const TaskEventView = Schema.Union([
  Schema.Struct({
    _tag: Schema.Literal("StatusChanged"),
    ...eventFields,
    status: TaskStatus,
    attempt: Schema.Number,
    error: Schema.optional(StoredError),
    suspendReason: Schema.optional(SuspendReasonView)
  }).annotate({ identifier: "StatusChanged", description: "A task changed status." }),
  Schema.Struct({
    _tag: Schema.Literal("ProgressReported"),
    ...eventFields,
    percent: Schema.Number,
    message: Schema.String
  }).annotate({ identifier: "ProgressReported", description: "A task reported how far it is (0 to 100)." }),
  Schema.Struct({ _tag: Schema.Literal("StatusMessage"), ...eventFields, message: Schema.String }).annotate({
    identifier: "StatusMessage",
    description: "A task said what it is doing."
  }),
  Schema.Struct({
    _tag: Schema.Literal("LogWritten"),
    ...eventFields,
    level: Schema.Literals(["debug", "info", "warning", "error"]),
    message: Schema.String,
    data: Schema.optional(Schema.Json)
  }).annotate({ identifier: "LogWritten", description: "A task logged a line." }),
  Schema.Struct({
    _tag: Schema.Literal("ModelTextDelta"),
    ...eventFields,
    call: Schema.Number,
    delta: Schema.String
  }).annotate({ identifier: "ModelTextDelta", description: "A streamed model call produced text (not stored)." }),
  Schema.Struct({
    _tag: Schema.Literal("ModelCallRecorded"),
    ...eventFields,
    call: Schema.Number,
    method: Schema.String,
    usage: Schema.Struct({
      provider: Schema.String,
      model: Schema.String,
      inputTokens: Schema.Number,
      outputTokens: Schema.Number,
      cachedTokens: Schema.Number,
      costNanos: Schema.Number
    })
  }).annotate({ identifier: "ModelCallRecorded", description: "A model call was recorded, with its usage." })
]).annotate({ identifier: "TaskEvent" })
export type TaskEventView = typeof TaskEventView.Type

export const HealthView = Schema.Struct({ status: Schema.Literal("ok") }).annotate({ identifier: "Health" })

/** A task's own state: every live key, with its value, version and expiry. */
export const TaskStateView = Schema.Struct({
  taskId: Schema.String,
  entries: Schema.Record(
    Schema.String,
    Schema.Struct({
      value: Schema.Json,
      /** 1 for a new key; one more with every write. */
      version: Schema.Int,
      expiresAt: Schema.optionalKey(Time)
    })
  )
}).annotate({ identifier: "TaskState", description: "A task's own state; expired keys are left out." })
export type TaskStateView = typeof TaskStateView.Type

/** One snapshot of a task's data. */
export const SnapshotView = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  /** 1 for the task's first snapshot, one more for each save; never reused. */
  version: Schema.Int,
  data: Schema.Json,
  checkpoint: Schema.Boolean,
  createdAt: Time,
  /** The `Versioned` version the data was written at. */
  dataVersion: Schema.optionalKey(Schema.Int),
  /** Where a forked snapshot was copied from. */
  origin: Schema.optionalKey(Schema.Struct({ taskId: Schema.String, version: Schema.Int }))
}).annotate({ identifier: "Snapshot", description: "A saved version of a task's data." })
export type SnapshotView = typeof SnapshotView.Type

/**
 * A snapshot as `GET /tasks/{id}/snapshots` lists it: without its data, which may be as large as the snapshot size
 * limit (`GET /tasks/{id}/snapshots/{version}` has it), so that a page's size is bounded.
 */
export const SnapshotSummaryView = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  version: Schema.Int,
  checkpoint: Schema.Boolean,
  createdAt: Time,
  dataSizeBytes: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({
    description: "The size of its data as UTF-8 JSON, the measure the snapshot size limit applies to."
  }),
  dataVersion: Schema.optionalKey(Schema.Int),
  origin: Schema.optionalKey(Schema.Struct({ taskId: Schema.String, version: Schema.Int }))
}).annotate({
  identifier: "SnapshotSummary",
  description: "A snapshot in a list: its version, time and data size, without its data (read the snapshot for it)."
})
export type SnapshotSummaryView = typeof SnapshotSummaryView.Type

/** One page of snapshots, newest first; pass `nextBefore` back as `before` for the next page. */
export const SnapshotPageView = Schema.Struct({
  items: Schema.Array(SnapshotSummaryView),
  nextBefore: Schema.optionalKey(Schema.Int)
}).annotate({ identifier: "SnapshotPage" })
export type SnapshotPageView = typeof SnapshotPageView.Type

export const SessionListView = Schema.Struct({
  items: Schema.Array(Schema.Struct({ id: Schema.String }))
}).annotate({ identifier: "SessionList", description: "Every session with a state, sorted by id." })

export const SessionView = Schema.Struct({ id: Schema.String, state: Schema.Json }).annotate({
  identifier: "Session",
  description: "A session's current state."
})

export const CheckpointView = Schema.Struct({
  /** Pass it to `POST /checkpoints/{id}/restore`. */
  id: Schema.String,
  sessionId: Schema.String,
  name: Schema.String,
  createdAt: Time
}).annotate({ identifier: "Checkpoint", description: "A named copy of a session's state." })
export type CheckpointView = typeof CheckpointView.Type

export const CheckpointListView = Schema.Struct({ items: Schema.Array(CheckpointView) }).annotate({
  identifier: "CheckpointList",
  description: "A session's checkpoints, oldest first."
})

export const CheckpointCreatedView = Schema.Struct({ id: Schema.String }).annotate({
  identifier: "CheckpointCreated",
  description: "The id of the new checkpoint."
})

export const RestoredView = Schema.Struct({ state: Schema.Json }).annotate({
  identifier: "Restored",
  description: "The checkpoint's state, now the session's current state."
})

const iso = (millis: number): string => DateTime.formatIso(DateTime.makeUnsafe(millis))

const suspendReasonView = (reason: SuspendReason): SuspendReasonView => {
  switch (reason._tag) {
    case "Paused":
      return { _tag: "Paused", ...(reason.until === undefined ? {} : { until: iso(reason.until) }) }
    case "WaitingForSignal":
      return {
        _tag: "WaitingForSignal",
        signal: reason.signal,
        ...(reason.until === undefined ? {} : { until: iso(reason.until) })
      }
    case "WaitingForChildren":
    case "QueuedBehindSiblings":
      return reason
  }
}

/** What a task's view and its summary share: who it is, where it stands, and its times. */
const taskHead = (record: TaskSummary) => ({
  id: record.id,
  name: record.name,
  status: record.status,
  attempt: record.attempt,
  ...(record.sessionId === undefined ? {} : { sessionId: record.sessionId }),
  ...(record.parentId === undefined ? {} : { parentId: record.parentId }),
  ...(record.childKey === undefined ? {} : { childKey: record.childKey }),
  ...(record.forkedFrom === undefined ? {} : { forkedFrom: record.forkedFrom }),
  ...(record.suspendReason === undefined ? {} : { suspendReason: suspendReasonView(record.suspendReason) }),
  ...(record.runAt === undefined ? {} : { runAt: iso(record.runAt) }),
  createdAt: iso(record.createdAt),
  updatedAt: iso(record.updatedAt),
  ...(record.startedAt === undefined ? {} : { startedAt: iso(record.startedAt) }),
  ...(record.finishedAt === undefined ? {} : { finishedAt: iso(record.finishedAt) }),
  ...(record.deadline === undefined ? {} : { deadline: iso(record.deadline) })
})

export const toTaskView = (record: TaskRecord): TaskView => ({
  ...taskHead(record),
  input: record.input,
  ...(record.output === undefined ? {} : { output: record.output }),
  ...(record.error === undefined ? {} : { error: record.error })
})

export const toTaskSummaryView = (record: TaskSummary): TaskSummaryView => ({
  ...taskHead(record),
  ...(record.error === undefined
    ? {}
    : { error: { tag: record.error.tag, message: cut(record.error.message, SUMMARY_MESSAGE_LENGTH) } })
})

export const toInspectionView = (inspection: Inspection): InspectionView => {
  const { leaseExpiresAt, lastHeartbeatAt, runAt, ...rest } = inspection
  return {
    ...rest,
    ...(leaseExpiresAt === undefined ? {} : { leaseExpiresAt: iso(leaseExpiresAt) }),
    ...(lastHeartbeatAt === undefined ? {} : { lastHeartbeatAt: iso(lastHeartbeatAt) }),
    ...(runAt === undefined ? {} : { runAt: iso(runAt) })
  }
}

/** Every kind of event, with its times as strings; a new kind fails to compile here until it has a view. */
export const toEventView = (event: TaskEvent): TaskEventView =>
  event._tag === "StatusChanged" && event.suspendReason !== undefined
    ? { ...event, at: iso(event.at), suspendReason: suspendReasonView(event.suspendReason) }
    : ({ ...event, at: iso(event.at) } as TaskEventView)

export const toRunTreeView = (tree: RunTree.RunTree): RunTreeView => ({
  rootId: tree.rootId,
  nodes: tree.nodes.map(({ suspendReason, progress, createdAt, startedAt, finishedAt, ...node }) => ({
    ...node,
    ...(suspendReason === undefined ? {} : { suspendReason: suspendReasonView(suspendReason) }),
    ...(progress === undefined ? {} : { progress: { ...progress, updatedAt: iso(progress.updatedAt) } }),
    createdAt: iso(createdAt),
    ...(startedAt === undefined ? {} : { startedAt: iso(startedAt) }),
    ...(finishedAt === undefined ? {} : { finishedAt: iso(finishedAt) })
  }))
})

export const toLogEntryView = (entry: LogEntry): LogEntryView => ({
  seq: entry.seq,
  level: entry.level,
  message: entry.message,
  ...(entry.data === undefined ? {} : { data: entry.data }),
  at: iso(entry.at)
})

export const toProgressView = (latest: ProgressLatest): ProgressView => ({
  ...(latest.percent === undefined ? {} : { percent: latest.percent }),
  ...(latest.message === undefined ? {} : { message: latest.message }),
  ...(latest.status === undefined ? {} : { status: latest.status }),
  updatedAt: iso(latest.updatedAt)
})

/** The entries live at `now`, by key in code-point order. */
export const toTaskStateView = (
  taskId: string,
  entries: ReadonlyMap<string, StateEntry>,
  now: number
): TaskStateView => {
  const live = Array.from(entries).filter(([, entry]) => entry.expiresAt === undefined || entry.expiresAt > now)
  live.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return {
    taskId,
    entries: Object.fromEntries(
      live.map(([key, entry]) => [
        key,
        {
          value: entry.value,
          version: entry.version,
          ...(entry.expiresAt === undefined ? {} : { expiresAt: iso(entry.expiresAt) })
        }
      ])
    )
  }
}

export const toSnapshotView = (record: SnapshotRecord): SnapshotView => ({
  id: record.id,
  taskId: record.taskId,
  version: record.version,
  data: record.data,
  checkpoint: record.checkpoint,
  createdAt: iso(record.createdAt),
  ...(record.dataVersion === undefined ? {} : { dataVersion: record.dataVersion }),
  ...(record.origin === undefined ? {} : { origin: { taskId: record.origin.taskId, version: record.origin.version } })
})

export const toSnapshotSummaryView = (summary: SnapshotSummary): SnapshotSummaryView => ({
  id: summary.id,
  taskId: summary.taskId,
  version: summary.version,
  checkpoint: summary.checkpoint,
  createdAt: iso(summary.createdAt),
  dataSizeBytes: summary.dataSizeBytes,
  ...(summary.dataVersion === undefined ? {} : { dataVersion: summary.dataVersion }),
  ...(summary.origin === undefined
    ? {}
    : { origin: { taskId: summary.origin.taskId, version: summary.origin.version } })
})

export const toSnapshotPageView = (page: SnapshotSummaryPage): SnapshotPageView => ({
  items: page.items.map(toSnapshotSummaryView),
  ...(page.nextBefore === undefined ? {} : { nextBefore: page.nextBefore })
})

export const toCheckpointView = (info: CheckpointInfo): CheckpointView => ({
  id: info.id,
  sessionId: info.sessionId,
  name: info.name,
  createdAt: iso(info.createdAt)
})

/** The usage of a task's recorded model calls, summed (`ModelUsage.ofTask`). Costs are whole nano-dollars. */
export const UsageTotalsView = Schema.Struct({
  calls: Schema.Int,
  inputTokens: Schema.Int,
  outputTokens: Schema.Int,
  /** Input tokens read from the provider's cache (part of `inputTokens`). */
  cachedTokens: Schema.Int,
  /** Dollars times 10^9, from the price table the `ModelCalls` plugin was given; a model not in it costs 0. */
  costNanos: Schema.Int,
  /** `costNanos` in dollars. */
  cost: Schema.Finite
}).annotate({
  identifier: "UsageTotals",
  description: "The summed usage of recorded model calls: calls, tokens and cost."
})
export type UsageTotalsView = typeof UsageTotalsView.Type

/** A run tree's model usage (`ModelUsage.ofTree`): its total, and each task's that made a recorded call. */
export const TreeUsageView = Schema.Struct({
  rootId: Schema.String,
  total: UsageTotalsView,
  /** Tree order (each task after its parent); tasks with no recorded call are left out. */
  byTask: Schema.Array(Schema.Struct({ taskId: Schema.String, ...UsageTotalsView.fields }))
}).annotate({
  identifier: "TreeUsage",
  description: "The model usage of a task and every task under it: the total, and each task's."
})
export type TreeUsageView = typeof TreeUsageView.Type

/** A tool call that waits for a decision (`Approvals.pending`). */
export const PendingApprovalView = Schema.Struct({
  taskId: Schema.String,
  /** Decide it with `POST /tasks/{taskId}/approvals/{approvalId}`. */
  approvalId: Schema.String,
  toolCallId: Schema.String,
  /** The tool's name (`unknown` when its call is not in the record). */
  tool: Schema.String,
  /** The parameters the model gave the tool; absent when its call is not in the record. */
  params: Schema.optionalKey(Schema.Json),
  /** The number of the model call that asked for it, in its run of the body (0 for the first). */
  call: Schema.Int
}).annotate({ identifier: "PendingApproval", description: "A tool call that waits for an approval or a denial." })
export type PendingApprovalView = typeof PendingApprovalView.Type

export const PendingApprovalListView = Schema.Struct({ items: Schema.Array(PendingApprovalView) }).annotate({
  identifier: "PendingApprovalList",
  description: "The tool calls that wait for a decision, in the order they were asked (tree order for a tree)."
})
export type PendingApprovalListView = typeof PendingApprovalListView.Type

export const toUsageTotalsView = (totals: import("../ai.ts").UsageTotals): UsageTotalsView => ({
  calls: totals.calls,
  inputTokens: totals.inputTokens,
  outputTokens: totals.outputTokens,
  cachedTokens: totals.cachedTokens,
  costNanos: totals.costNanos,
  cost: totals.cost
})

export const toTreeUsageView = (usage: import("../ai.ts").TreeUsage): TreeUsageView => ({
  rootId: usage.rootId,
  total: toUsageTotalsView(usage.total),
  byTask: Array.from(usage.byTask, ([taskId, totals]) => ({ taskId, ...toUsageTotalsView(totals) }))
})

/** The approval as the API shows it; its parameters are JSON, as recorded with its model call. */
export const toPendingApprovalView = (approval: import("../ai.ts").PendingApproval): PendingApprovalView => ({
  taskId: approval.taskId,
  approvalId: approval.approvalId,
  toolCallId: approval.toolCallId,
  tool: approval.tool,
  ...(approval.params === undefined ? {} : { params: approval.params as Schema.Json }),
  call: approval.call
})
