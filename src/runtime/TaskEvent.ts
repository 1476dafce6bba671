/**
 * Events of the tasks a runtime drives: status changes, progress, status messages and logs, numbered by one
 * sequence per runtime in the order they happened.
 */
import type { Schema } from "effect"
import type { StoredError, SuspendReason, TaskStatus } from "../stores/TaskRecord.ts"

interface EventBase {
  /** Grows by one with every event of the runtime; resume a stream after the last one seen. */
  readonly seq: number
  readonly taskId: string
  readonly taskName: string
  /** Epoch milliseconds from the runtime's Clock. */
  readonly at: number
}

/** A task changed status. */
export interface StatusChanged extends EventBase {
  readonly _tag: "StatusChanged"
  readonly status: TaskStatus
  readonly attempt: number
  /** The task's parent, for a child: a tree's stream takes in a child by its first event. */
  readonly parentId?: string | undefined
  readonly error?: StoredError | undefined
  readonly suspendReason?: SuspendReason | undefined
}

/** A task reported how far it is (0..100). */
export interface ProgressReported extends EventBase {
  readonly _tag: "ProgressReported"
  readonly percent: number
  readonly message: string
}

/** A task said what it is doing. */
export interface StatusMessage extends EventBase {
  readonly _tag: "StatusMessage"
  readonly message: string
}

export type LogLevel = "debug" | "info" | "warning" | "error"

/** A task logged a line. */
export interface LogWritten extends EventBase {
  readonly _tag: "LogWritten"
  readonly level: LogLevel
  readonly message: string
  readonly data?: Schema.Json | undefined
}

/** A streamed model call of the task produced text (not stored: a subscriber sees it as it comes). */
export interface ModelTextDelta extends EventBase {
  readonly _tag: "ModelTextDelta"
  /** The call's number in the run of the body. */
  readonly call: number
  readonly delta: string
}

/** A model call of the task was recorded, with what it used (see `ModelUsage`). */
export interface ModelCallRecorded extends EventBase {
  readonly _tag: "ModelCallRecorded"
  readonly call: number
  readonly method: string
  readonly usage: {
    readonly provider: string
    readonly model: string
    readonly inputTokens: number
    readonly outputTokens: number
    readonly cachedTokens: number
    readonly costNanos: number
  }
}

/** Everything that can appear on a runtime's event stream. */
export type TaskEvent =
  | StatusChanged
  | ProgressReported
  | StatusMessage
  | LogWritten
  | ModelTextDelta
  | ModelCallRecorded

/** An event as published: the runtime fills in `seq` and `at`. */
export type TaskEventInput = TaskEvent extends infer E ? (E extends TaskEvent ? Omit<E, "seq" | "at"> : never) : never
