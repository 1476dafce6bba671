/**
 * How a running attempt ends without finishing: it stops as a `suspended` task that becomes runnable again at
 * `runAt` or when a signal arrives. Plugins raise it; the runtime recognises it and never shows it to users.
 */
import { type Cause, Effect } from "effect"
import type { ChildWaitMode, SuspendReason } from "../stores/TaskRecord.ts"

/** The internal signal a suspending attempt ends with (carried as a defect, so it is never a typed error). */
export class Suspend {
  readonly _tag = "Suspend"
  readonly reason: SuspendReason
  readonly runAt: number | undefined
  /** Set for a wait for children: their ids and how to wait (the store counts them, in `AwaitingChildren`). */
  readonly children: { readonly ids: ReadonlyArray<string>; readonly mode: ChildWaitMode } | undefined
  constructor(
    reason: SuspendReason,
    runAt: number | undefined,
    children?: { readonly ids: ReadonlyArray<string>; readonly mode: ChildWaitMode }
  ) {
    this.reason = reason
    this.runAt = runAt
    this.children = children
  }
}

/** Ends the current attempt: the task is recorded `suspended` for `reason`, runnable again after `runAt`. */
export const suspend = (reason: SuspendReason, runAt: number | undefined): Effect.Effect<never> =>
  Effect.die(new Suspend(reason, runAt))

/**
 * Ends the current attempt until these children end as `mode` says: the task is recorded waiting for them, and made
 * runnable by the write that ends the wait.
 */
export const suspendForChildren = (ids: ReadonlyArray<string>, mode: ChildWaitMode): Effect.Effect<never> =>
  Effect.die(
    new Suspend({ _tag: "WaitingForChildren", mode, total: ids.length, remaining: ids.length }, undefined, {
      ids,
      mode
    })
  )

/** The suspension a cause carries, if it carries one. */
export const findSuspend = <E>(cause: Cause.Cause<E>): Suspend | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Die" && reason.defect instanceof Suspend) return reason.defect
  }
  return undefined
}
