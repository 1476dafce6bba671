/**
 * The plugin that gives every task execution its `Snapshots`, over the runtime's `SnapshotStore`. With
 * `auto.onSuspend`, the value a body last staged is saved as a checkpoint whenever the task suspends.
 */
import { Effect, Layer } from "effect"
import { type Plugin, plugin } from "../../runtime/Plugin.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import { SnapshotStore } from "../../stores/SnapshotStore.ts"
import { makeSnapshots } from "./internal/service.ts"
import * as Staging from "./internal/staging.ts"
import { type SnapshotPolicy, Snapshots } from "./Snapshots.ts"

/** How the plugin's `Snapshots` check and save. */
export interface SnapshotPluginOptions {
  /** The largest snapshot, as UTF-8 JSON. Default: 1 MiB. */
  readonly sizeLimitBytes?: number | undefined
  /** Snapshots saved without the body asking. */
  readonly auto?: SnapshotPolicy | undefined
}

/**
 * Makes the snapshot plugin. Each plugin value keeps its own registry of staged values, so give a runtime one.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make({ auto: { onSuspend: true } })] })
 *   return yield* runtime.run(importer, { file: "big.csv" })
 * }).pipe(Effect.scoped, Effect.provide([MemoryTaskStore.layer, MemorySnapshotStore.layer]))
 *
 * // in the body of `importer`:
 * const snapshots = yield* Snapshots
 * const progress = yield* snapshots.typed(Progress).latestOr({ row: 0 })
 * ```
 */
export const make = (options: SnapshotPluginOptions = {}): Plugin<Snapshots, SnapshotStore> => {
  const staging = Staging.make()
  const policy = options.auto ?? {}

  const saveStaged = (taskId: string) =>
    Effect.gen(function* () {
      const staged = staging.take(taskId)
      if (staged === undefined) return
      const store = yield* SnapshotStore
      yield* store.save({ taskId, data: staged.data, checkpoint: true, dataVersion: staged.dataVersion })
    }).pipe(
      // A hook cannot fail: a snapshot that could not be written is reported, and the suspension stands.
      Effect.catchTag("StoreError", (error) => Effect.logWarning("automatic snapshot on suspend not saved", error)),
      Effect.withSpan("SnapshotPlugin.beforeSuspend")
    )

  return plugin({
    name: "snapshots",
    layer: Layer.effect(
      Snapshots,
      Effect.gen(function* () {
        const task = yield* TaskInfo
        const store = yield* SnapshotStore
        return Snapshots.of(makeSnapshots(task, store, { sizeLimitBytes: options.sizeLimitBytes, policy }, staging))
      })
    ),
    hooks:
      policy.onSuspend === true
        ? {
            // A value staged by an earlier attempt that ended without a hook (a retry, a shutdown) is stale.
            onStart: (task) => Effect.sync(() => staging.drop(task.id)),
            beforeSuspend: (task) => saveStaged(task.id),
            onFinish: (task) => Effect.sync(() => staging.drop(task.id))
          }
        : undefined
  })
}
