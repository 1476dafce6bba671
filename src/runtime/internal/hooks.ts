/**
 * The plugins' lifecycle hooks, run with the runtime's context. A hook cannot fail; without plugin hooks, running
 * them costs nothing (no effect is built).
 */
import { type Context, Effect } from "effect"
import type { StoredError, TaskRecord } from "../../stores/TaskRecord.ts"
import type { Transition } from "../../stores/TaskStore.ts"
import type { LifecycleHooks } from "../Plugin.ts"
import type { TaskInfo } from "../TaskInfo.ts"

type Hooks = LifecycleHooks<unknown>

export interface HookRunner {
  /** Whether any plugin has a hook: without, the attempt skips the steps that only run hooks. */
  readonly isEmpty: boolean
  readonly run: <K extends keyof Hooks>(
    name: K,
    call: (hook: NonNullable<Hooks[K]>) => Effect.Effect<void, never, unknown>
  ) => Effect.Effect<void>
  /** The hooks of the transition an attempt recorded, which left the task as `record` says. */
  readonly afterFinish: (info: TaskInfo["Service"], record: TaskRecord, transition: Transition) => Effect.Effect<void>
}

export const makeHookRunner = (hooks: ReadonlyArray<Partial<Hooks>>, context: Context.Context<unknown>): HookRunner => {
  const run = <K extends keyof Hooks>(
    name: K,
    call: (hook: NonNullable<Hooks[K]>) => Effect.Effect<void, never, unknown>
  ): Effect.Effect<void> => {
    if (hooks.length === 0) return Effect.void
    return Effect.forEach(
      hooks,
      (hook) => {
        const fn = hook[name]
        return fn === undefined ? Effect.void : call(fn as NonNullable<Hooks[K]>)
      },
      { discard: true }
    ).pipe(Effect.provideContext(context)) as Effect.Effect<void>
  }

  const afterFinish = (info: TaskInfo["Service"], record: TaskRecord, transition: Transition) => {
    switch (transition._tag) {
      case "Completed":
        return run("onSuccess", (f) => f(info, transition.output)).pipe(
          Effect.andThen(run("onFinish", (f) => f(info, record.status)))
        )
      case "Failed":
        return run("onFailure", (f) => f(info, transition.error as StoredError)).pipe(
          Effect.andThen(run("onFinish", (f) => f(info, record.status)))
        )
      case "Cancelled":
        return run("onFinish", (f) => f(info, record.status))
      case "Suspended":
        return run("onSuspend", (f) => f(info, transition.reason))
      case "AwaitingChildren": {
        // suspended as the store counted the wait; runnable at once when it was over before it started
        const reason = record.status === "suspended" ? record.suspendReason : undefined
        return reason === undefined ? Effect.void : run("onSuspend", (f) => f(info, reason))
      }
      case "Requeued":
        return Effect.void
    }
  }

  return { isEmpty: hooks.length === 0, run, afterFinish }
}
