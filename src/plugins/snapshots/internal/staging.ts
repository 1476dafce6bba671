/**
 * The value each running task staged for its automatic snapshot, by task id. One registry per plugin value: the
 * per-execution `Snapshots` writes it, the plugin's hooks read it. Every operation is synchronous, so no lock.
 */
import type { Schema } from "effect"

/** A staged value, already checked and encoded as it will be stored. */
export interface StagedSnapshot {
  readonly data: Schema.Json
  readonly dataVersion: number | undefined
}

export interface Staging {
  readonly set: (taskId: string, staged: StagedSnapshot) => void
  /** Removes and returns the task's staged value. */
  readonly take: (taskId: string) => StagedSnapshot | undefined
  readonly drop: (taskId: string) => void
}

export const make = (): Staging => {
  const staged = new Map<string, StagedSnapshot>()
  return {
    set: (taskId, value) => {
      staged.set(taskId, value)
    },
    take: (taskId) => {
      const value = staged.get(taskId)
      staged.delete(taskId)
      return value
    },
    drop: (taskId) => {
      staged.delete(taskId)
    }
  }
}
