/**
 * The JSON shapes the HTTP API answers with. The same Schemas type the handlers and generate the OpenAPI document,
 * so the document cannot drift from the answers. Times are RFC 3339 strings in UTC.
 */
import { DateTime, Schema } from "effect"
import { StoredError, SuspendReason, type TaskEvent, type TaskRecord, TaskStatus } from "../index.ts"

const Time = Schema.String.annotate({ format: "date-time" })

/** A task as the API shows it: its record without the lease and fencing internals. */
export const TaskView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  status: TaskStatus,
  attempt: Schema.Number,
  sessionId: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  input: Schema.Json,
  output: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(StoredError),
  suspendReason: Schema.optionalKey(SuspendReason),
  runAt: Schema.optionalKey(Time),
  createdAt: Time,
  updatedAt: Time,
  startedAt: Schema.optionalKey(Time),
  finishedAt: Schema.optionalKey(Time)
}).annotate({ identifier: "Task", description: "A task: its status, attempt, output or error, and times." })
export type TaskView = typeof TaskView.Type

/** One page of `GET /tasks`; pass `nextCursor` back as `cursor` for the next page. */
export const TaskPageView = Schema.Struct({
  items: Schema.Array(TaskView),
  nextCursor: Schema.optionalKey(Schema.String)
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
    suspendReason: Schema.optional(SuspendReason)
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
  }).annotate({ identifier: "LogWritten", description: "A task logged a line." })
]).annotate({ identifier: "TaskEvent" })
export type TaskEventView = typeof TaskEventView.Type

export const HealthView = Schema.Struct({ status: Schema.Literal("ok") }).annotate({ identifier: "Health" })

const iso = (millis: number): string => DateTime.formatIso(DateTime.makeUnsafe(millis))

export const toTaskView = (record: TaskRecord): TaskView => ({
  id: record.id,
  name: record.name,
  status: record.status,
  attempt: record.attempt,
  ...(record.sessionId === undefined ? {} : { sessionId: record.sessionId }),
  ...(record.parentId === undefined ? {} : { parentId: record.parentId }),
  input: record.input,
  ...(record.output === undefined ? {} : { output: record.output }),
  ...(record.error === undefined ? {} : { error: record.error }),
  ...(record.suspendReason === undefined ? {} : { suspendReason: record.suspendReason }),
  ...(record.runAt === undefined ? {} : { runAt: iso(record.runAt) }),
  createdAt: iso(record.createdAt),
  updatedAt: iso(record.updatedAt),
  ...(record.startedAt === undefined ? {} : { startedAt: iso(record.startedAt) }),
  ...(record.finishedAt === undefined ? {} : { finishedAt: iso(record.finishedAt) })
})

/** Every kind of event, with its time as a string; a new kind fails to compile here until it has a view. */
export const toEventView = (event: TaskEvent): TaskEventView => ({ ...event, at: iso(event.at) })
