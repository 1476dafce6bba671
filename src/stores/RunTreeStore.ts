/**
 * The contract of run trees: a root task and every task under it (its children, theirs, ...), each with its latest
 * progress and its latest snapshot version, read at one instant of the store, so that a tree whose tasks are ending
 * meanwhile is never read half before and half after.
 */
import { Context, type Effect, type Option } from "effect"
import type { StoreError } from "./errors.ts"
import type { ProgressLatest } from "./ProgressStore.ts"
import type { TaskRecord } from "./TaskRecord.ts"

/** One task of a tree, as the store holds it. */
export interface TreeRow {
  readonly record: TaskRecord
  /** Its latest progress, if it reported any. */
  readonly progress?: ProgressLatest | undefined
  /** The version of its latest snapshot, if it saved any. */
  readonly snapshotVersion?: number | undefined
}

/** How deep a tree is read: a deeper task is left out (a tree that deep is a runaway recursion, not a plan). */
export const maxTreeDepth = 1000

export class RunTreeStore extends Context.Service<
  RunTreeStore,
  {
    /**
     * The task `rootId` and its descendants, in one consistent read: the root first, each task after its parent and
     * before its parent's next child, siblings in the order they were created. None when no task has that id.
     */
    readonly read: (rootId: string) => Effect.Effect<Option.Option<ReadonlyArray<TreeRow>>, StoreError>
  }
>()("waypoint/stores/RunTreeStore") {}
