/**
 * Where the test kit's crash injector stops a runtime: right after a step's result, a snapshot or a child's record is
 * committed to the store, before the runtime hears back, as if its process died at that instant.
 */
import type { Schema } from "effect"
import type { SnapshotRecord } from "../../stores/SnapshotStore.ts"
import type { Checkpoint } from "../../stores/StepStore.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"

/**
 * A boundary to crash at, in any task or, with `taskId`, in one:
 * - `{ step: "charge" }`: once the step `charge` has been recorded (its result and its state, one write);
 * - `{ snapshot: 2 }`: once a task's snapshot version 2 has been saved;
 * - `{ child: "research/a" }`: once the child under that key has been created (`taskId`: its parent).
 */
export type CrashPoint =
  | { readonly step: string; readonly taskId?: string | undefined }
  | { readonly snapshot: number; readonly taskId?: string | undefined }
  | { readonly child: string; readonly taskId?: string | undefined }

/** A write the store committed, as the crash injector sees it. */
export type CommittedWrite =
  | { readonly _tag: "Checkpoint"; readonly checkpoint: Checkpoint; readonly stored: Schema.Json }
  | { readonly _tag: "Snapshot"; readonly snapshot: SnapshotRecord }
  | { readonly _tag: "Created"; readonly task: TaskRecord }

/** Whether `write` is the boundary `point` names. */
export const matches = (point: CrashPoint, write: CommittedWrite): boolean => {
  switch (write._tag) {
    case "Checkpoint":
      return (
        "step" in point &&
        write.checkpoint.key === `step:${point.step}` &&
        (point.taskId === undefined || point.taskId === write.checkpoint.taskId)
      )
    case "Snapshot":
      return (
        "snapshot" in point &&
        write.snapshot.version === point.snapshot &&
        (point.taskId === undefined || point.taskId === write.snapshot.taskId)
      )
    case "Created":
      return (
        "child" in point &&
        write.task.childKey === point.child &&
        (point.taskId === undefined || point.taskId === write.task.parentId)
      )
  }
}

/** How a crash point reads in messages: `step "charge"`, `snapshot 2 of task t-1`. */
export const describe = (point: CrashPoint): string => {
  const where =
    "step" in point
      ? `step "${point.step}"`
      : "snapshot" in point
        ? `snapshot ${point.snapshot}`
        : `child "${point.child}"`
  return point.taskId === undefined ? where : `${where} of task ${point.taskId}`
}
