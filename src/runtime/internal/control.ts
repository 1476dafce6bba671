/**
 * Cancel, pause and wake, asked of a task here or, for a task another process runs, through the store (which tells
 * that process at once). A cancel wins over a pause; a pause of a running attempt here waits until its outcome is
 * recorded.
 */
import { Cause, Deferred, Effect, Exit, Fiber, Option } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import { isQueued, isTerminal, type SuspendReason } from "../../stores/TaskRecord.ts"
import type { TaskNotFound } from "../errors.ts"
import type { Core } from "./core.ts"
import { interruptAttempt } from "./LiveTask.ts"

/** Paused until someone resumes it (not a body's pause until a time). */
export const isPausedFromOutside = (reason: SuspendReason | undefined): boolean =>
  reason?._tag === "Paused" && reason.until === undefined

export interface Control {
  /** Cancels a task and its unfinished children (see `Runtime.cancel`). */
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  /**
   * Cancels the unfinished children of a task (`queued`: those queued behind their siblings only); failures are
   * ignored (a later cancel may retry them).
   */
  readonly cancelChildren: (parentId: string, which?: "all" | "queued") => Effect.Effect<void>
  /** Pauses a task until it is resumed (see `Runtime.pause`); `false` when it has ended. */
  readonly pause: (id: string) => Effect.Effect<boolean, TaskNotFound | StoreError>
  /** Withdraws a pause asked of a running task that nothing has carried out yet (its holder, here or elsewhere). */
  readonly withdrawPause: (id: string) => Effect.Effect<void, StoreError>
  /** Makes a waiting driver here look at the store again now (a signal arrived, a resume). */
  readonly wake: (id: string) => Effect.Effect<void>
}

export const makeControl = (core: Core): Control => {
  const { store, live: liveTasks } = core

  const cancelChildren = (parentId: string, which: "all" | "queued" = "all"): Effect.Effect<void> =>
    Effect.gen(function* () {
      for (const child of yield* store.childSummaries(parentId)) {
        if (!isTerminal(child.status) && (which === "all" || isQueued(child))) yield* cancel(child.id)
      }
    }).pipe(Effect.ignore)

  const cancel = (id: string): Effect.Effect<void, TaskNotFound | StoreError> =>
    Effect.suspend(() => {
      const live = liveTasks.open(id)
      return Effect.gen(function* () {
        const record = yield* core.readRecord(id)
        if (isTerminal(record.status)) return
        // Running in another process (a driver here may only be waiting for its lease): ask it, through the store.
        // It cancels the task when it hears of it, or when the attempt ends; a driver here sees how the task ends.
        const elsewhere = record.status === "running" && record.leaseOwner !== core.runtimeId
        if (elsewhere && (yield* store.requestCancel(id))) return
        live.cancelAsked = true
        const driver = yield* liveTasks.driverOf(live)
        if (driver !== undefined) {
          // A running body may see `shouldStop` and end by itself within the grace period; then it is interrupted.
          if (core.graceMillis > 0 && record.status === "running") {
            yield* Effect.timeoutOption(Fiber.await(driver), core.graceMillis)
          }
          yield* Fiber.interrupt(driver)
        }
        // An idle task (no driver here, or one that stopped before claiming) is cancelled here in any case. Claimed
        // by another process meanwhile, it is asked of that process (a few tries, for a task that keeps changing).
        for (let tries = 0; tries < 3; tries++) {
          const cancelled = yield* store.cancelIdle(id)
          if (Option.isSome(cancelled)) {
            yield* core.publish(cancelled.value)
            yield* core.hooks.childEnded(cancelled.value)
            break
          }
          const now = yield* core.readRecord(id)
          if (now.status !== "running" || now.leaseOwner === core.runtimeId || (yield* store.requestCancel(id))) break
        }
        // Cancelled here, by its driver's end, or by its attempt: its unfinished children are cancelled too.
        const after = yield* core.readRecord(id)
        if (after.status === "cancelled") yield* cancelChildren(id)
      }).pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            // Interrupted (a body cancelling its own task is, by that cancel): the request stays for the driver
            // still running here, which reads it when its attempt ends and drops it when it ends. Otherwise it goes.
            if (Exit.isSuccess(exit) || !Cause.hasInterruptsOnly(exit.cause) || !live.isDriven) {
              live.cancelAsked = false
              liveTasks.release(live)
            }
          })
        )
      )
    })

  const pause = (id: string, tries = 3): Effect.Effect<boolean, TaskNotFound | StoreError> =>
    Effect.gen(function* () {
      const record = yield* core.readRecord(id)
      if (isTerminal(record.status)) return false
      if (record.status !== "running") {
        const paused = yield* store.suspendIdle(id, { _tag: "Paused" })
        if (Option.isSome(paused)) yield* core.publish(paused.value)
        if (Option.isSome(paused)) return true
        // Claimed meanwhile (here or elsewhere): look again.
        return tries > 1 ? yield* pause(id, tries - 1) : false
      }
      const live = liveTasks.get(id)
      const attempt = live?.attempt
      if (live === undefined || attempt === undefined) {
        // This runtime's claim of it has committed and its reply is on its way: the attempt stops before its body.
        const claimedHere = live?.isDriven === true && record.leaseOwner === core.runtimeId ? live : undefined
        if (claimedHere !== undefined) claimedHere.pauseAsked = true
        // Running in another process: ask its holder, through the store. It pauses the task when it hears of it; an
        // attempt that ends first, or a claim, records it paused.
        if (yield* store.requestPause(id)) return true
        // It stopped running meanwhile: look again.
        if (claimedHere !== undefined) claimedHere.pauseAsked = false
        return tries > 1 ? yield* pause(id, tries - 1) : false
      }
      live.pauseAsked = true
      const stopped = Effect.gen(function* () {
        if (attempt.fiber !== undefined) {
          yield* interruptAttempt(attempt, attempt.fiber)
        } else {
          attempt.stopped = Deferred.makeUnsafe<void>()
          yield* Deferred.await(attempt.stopped)
        }
        if (!attempt.isRecorded) {
          attempt.recorded ??= Deferred.makeUnsafe<void>()
          yield* Deferred.await(attempt.recorded)
        }
      })
      // Taken by the attempt's end if it came in time; otherwise (or if this call is interrupted) it must not apply
      // to a later attempt.
      yield* Effect.ensuring(
        stopped,
        Effect.sync(() => {
          live.pauseAsked = false
          liveTasks.release(live)
        })
      )
      if (attempt.left?.status === "suspended" && isPausedFromOutside(attempt.left.suspendReason)) return true
      // The body had ended before the pause came (its outcome was being recorded): the pause was not applied. Pause
      // the task as that outcome left it (a retry to come is paused).
      return yield* pause(id, tries)
    })

  const withdrawPause = (id: string) =>
    Effect.suspend(() => {
      // a pause waiting here for this runtime's claim to come back (one carried out on an attempt here stays)
      const live = liveTasks.get(id)
      if (live !== undefined && live.attempt === undefined) {
        live.pauseAsked = false
        liveTasks.release(live)
      }
      return Effect.asVoid(store.withdrawPause(id))
    })

  const wake = (id: string) =>
    Effect.sync(() => {
      const waiting = liveTasks.get(id)?.wake
      if (waiting !== undefined) Deferred.doneUnsafe(waiting, Exit.void)
    })

  return { cancel, cancelChildren, pause, withdrawPause, wake }
}
