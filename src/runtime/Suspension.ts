/**
 * How a running attempt ends without finishing: it stops as a `suspended` task that becomes runnable again at
 * `runAt` or when a signal arrives. Plugins raise it; the runtime recognises it and never shows it to users.
 */
import { type Cause, Effect } from "effect"
import type { ChildWaitMode, SuspendReason } from "../stores/TaskRecord.ts"

/** A wait for children: the ids of those that have not ended, of `total` the join names, and how to wait. */
interface ChildrenWait {
  readonly ids: ReadonlyArray<string>
  readonly mode: ChildWaitMode
  readonly total: number
}

/** The internal signal a suspending attempt ends with (carried as a defect, so it is never a typed error). */
export class Suspend {
  readonly _tag = "Suspend"
  readonly reason: SuspendReason
  readonly runAt: number | undefined
  /** Set for a wait for children: their ids and how to wait (the store counts them, in `AwaitingChildren`). */
  readonly children: ChildrenWait | undefined
  constructor(reason: SuspendReason, runAt: number | undefined, children?: ChildrenWait) {
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
 * runnable by the write that ends the wait. `total`: how many the join names, when `ids` leaves out those that ended.
 */
export const suspendForChildren = (
  ids: ReadonlyArray<string>,
  mode: ChildWaitMode,
  total: number = ids.length
): Effect.Effect<never> =>
  Effect.die(
    new Suspend({ _tag: "WaitingForChildren", mode, total, remaining: ids.length }, undefined, { ids, mode, total })
  )

/** The suspension a cause carries, if it carries one. */
export const findSuspend = <E>(cause: Cause.Cause<E>): Suspend | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Die" && reason.defect instanceof Suspend) return reason.defect
  }
  return undefined
}
