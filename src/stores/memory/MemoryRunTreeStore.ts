/**
 * Run trees read from the memory stores: the tasks from the task store, level by level, with each one's progress and
 * latest snapshot version. Consistent because nothing else runs meanwhile: every memory store answers at once, and the
 * read keeps the scheduler from switching to another fiber until it is done.
 */
import { Effect, Layer, Option, References } from "effect"
import type { StoreError } from "../errors.ts"
import { ProgressStore } from "../ProgressStore.ts"
import { maxTreeDepth, RunTreeStore, type TreeRow } from "../RunTreeStore.ts"
import { SnapshotStore } from "../SnapshotStore.ts"
import { byCreation, type TaskRecord } from "../TaskRecord.ts"
import { TaskStore } from "../TaskStore.ts"

export const make = Effect.gen(function* () {
  const tasks = yield* TaskStore
  const progress = yield* ProgressStore
  const snapshots = yield* SnapshotStore

  const rowOf = (record: TaskRecord) =>
    Effect.gen(function* () {
      const latest = yield* progress.getLatest(record.id)
      const newest = yield* snapshots.listSummaries(record.id, { limit: 1 })
      const row: TreeRow = {
        record,
        progress: Option.getOrUndefined(latest),
        snapshotVersion: newest.items[0]?.version
      }
      return row
    })

  /** `record` and its descendants, depth first. */
  const subtree = (record: TaskRecord, depth: number, rows: Array<TreeRow>): Effect.Effect<void, StoreError> =>
    Effect.gen(function* () {
      rows.push(yield* rowOf(record))
      if (depth >= maxTreeDepth) return
      // siblings in the order they were created: a task store reads a parent's children in no order
      const children = [...(yield* tasks.children(record.id))].sort(byCreation)
      for (const child of children) yield* subtree(child, depth + 1, rows)
    })

  const read = (rootId: string) =>
    Effect.gen(function* () {
      const root = yield* tasks.get(rootId)
      if (Option.isNone(root)) return Option.none<ReadonlyArray<TreeRow>>()
      const rows: Array<TreeRow> = []
      yield* subtree(root.value, 0, rows)
      return Option.some<ReadonlyArray<TreeRow>>(rows)
    }).pipe(
      // one step: no other fiber changes a store between the first row and the last
      Effect.provideService(References.PreventSchedulerYield, true)
    )

  return RunTreeStore.of({ read })
})

/** A run tree store over the memory stores in context (`MemoryStore.layer` provides it with them). */
export const layer: Layer.Layer<RunTreeStore, never, TaskStore | ProgressStore | SnapshotStore> = Layer.effect(
  RunTreeStore,
  make
)
