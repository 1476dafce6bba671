/**
 * Events a runtime publishes for the tasks it drives: every status change, numbered in the order they happened.
 */
import type { StoredError, SuspendReason, TaskStatus } from "../stores/TaskRecord.ts"

/** A task changed status. `seq` grows by one with every event of the runtime. */
export interface StatusChanged {
  readonly _tag: "StatusChanged"
  readonly seq: number
  readonly taskId: string
  readonly taskName: string
  readonly at: number
  readonly status: TaskStatus
  readonly attempt: number
  readonly error?: StoredError | undefined
  readonly suspendReason?: SuspendReason | undefined
}

/** Everything that can appear on a runtime's event stream. */
export type TaskEvent = StatusChanged
