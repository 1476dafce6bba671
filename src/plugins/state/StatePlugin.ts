/**
 * The state plugin: gives each task `TaskState` (durable key/value state) and `Durable` (remembered steps,
 * pauses, signals). A task's own state is cleared when the task ends (completed, failed or cancelled), and kept
 * while it is suspended, interrupted by a shutdown, or its worker crashed.
 */
import { type Duration, Effect, Layer } from "effect"
import { type Plugin, plugin } from "../../runtime/Plugin.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import type { StateStore } from "../../stores/StateStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import { Durable, snapshotPolicy } from "./Durable.ts"
import { markOwnWrite, mayHoldState } from "./internal/ownWrites.ts"
import { clearTaskState, TaskState } from "./TaskState.ts"

/**
 * The same state, noting every write of the task's own scope for the execution (`ownWrites.ts`) before it is sent,
 * and telling the snapshot policy (if any) after it.
 */
const reportingWrites = (info: TaskInfo["Service"], state: TaskState["Service"]): TaskState["Service"] => {
  const beforeWrite = markOwnWrite(info)
  const afterWrite = snapshotPolicy("stateWrite")
  const reported = <A, E, R>(write: Effect.Effect<A, E, R>) =>
    Effect.andThen(beforeWrite, Effect.tap(write, afterWrite))
  const around =
    <Args extends ReadonlyArray<unknown>, A, E, R>(f: (...args: Args) => Effect.Effect<A, E, R>) =>
    (...args: Args) =>
      reported(f(...args))
  return {
    ...state,
    set: around(state.set),
    update: around(state.update),
    modify: around(state.modify),
    modifyEffect: (key, f, options) => reported(state.modifyEffect(key, f, options)),
    delete: around(state.delete),
    clear: around(state.clear)
  }
}

/** Settings of the state plugin. */
export interface StatePluginOptions {
  /** The largest value, as UTF-8 JSON, that one key may hold (`StateTooLarge` beyond). Default 1 MiB. */
  readonly sizeLimitBytes?: number | undefined
  /** Default time to live of every key; none by default. */
  readonly ttl?: Duration.Input | undefined
  /** Keep a task's own state after it ends (for inspection). Default: cleared. */
  readonly keepStateAfterEnd?: boolean | undefined
}

/**
 * Makes the plugin. Its locks are shared by every task of the runtime, one per state scope.
 *
 * @example
 * ```ts
 * const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
 * const count = task({ name: "count", input: Schema.Void }, () =>
 *   Effect.gen(function* () {
 *     const state = yield* TaskState
 *     return yield* state.modify("n", (n) => Number(Option.getOrElse(n, () => 0)) + 1)
 *   })
 * )
 * ```
 */
export const make = (
  options: StatePluginOptions = {}
): Plugin<TaskState | Durable, StateStore | StepStore | TaskStore> => {
  const locks = TaskState.makeLocks()
  return plugin<TaskState | Durable, StateStore | StepStore | TaskStore>({
    name: "state",
    layer: Layer.merge(
      Layer.effect(
        TaskState,
        Effect.zipWith(Effect.service(TaskInfo), Effect.service(TaskState), reportingWrites)
      ).pipe(Layer.provide(TaskState.layer({ locks, sizeLimitBytes: options.sizeLimitBytes, ttl: options.ttl }))),
      Durable.layer
    ),
    hooks: {
      // A first run that wrote no state of its own has none to clear: one delete fewer per task.
      onFinish: (task) =>
        options.keepStateAfterEnd === true || !mayHoldState(task)
          ? Effect.void
          : Effect.ignore(clearTaskState(task.id)),
      // A signal sent while the task was still running could not wake it: look once more now it is suspended.
      onSuspend: (task, reason) =>
        reason._tag !== "WaitingForSignal"
          ? Effect.void
          : Effect.gen(function* () {
              const steps = yield* StepStore
              if ((yield* steps.pendingSignals(task.id, reason.signal)) === 0) return
              const tasks = yield* TaskStore
              yield* tasks.wake(task.id)
            }).pipe(Effect.ignore)
    }
  })
}
