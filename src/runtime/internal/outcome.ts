/**
 * Turning the end of an attempt into what the store records, and a stored record back into a result.
 */
import { Cause, Clock, Duration, Effect, Exit, Option, Predicate, Schedule, type Schema } from "effect"
import { storableText } from "../../stores/storable.ts"
import type { StoredError, TaskRecord } from "../../stores/TaskRecord.ts"
import type { Transition } from "../../stores/TaskStore.ts"
import { DeadlineExceeded, TaskCancelled, TaskFailed, TaskInterrupted } from "../errors.ts"
import { findSuspend } from "../Suspension.ts"
import { codecsOf } from "./codecs.ts"
import type { AnyTask } from "./registry.ts"

/** The stored form of any failure value: its tag and message, nothing that could fail to serialise. */
export const toStoredError = (error: unknown): StoredError => {
  const { tag, message } = describe(error)
  return { tag: storableText(tag), message: storableText(message) }
}

const describe = (error: unknown): StoredError => {
  if (Predicate.isObject(error)) {
    const tag = Predicate.hasProperty(error, "_tag") && Predicate.isString(error._tag) ? error._tag : undefined
    const message = Predicate.hasProperty(error, "message") && Predicate.isString(error.message) ? error.message : ""
    if (tag !== undefined) return { tag, message }
    if (error instanceof Error) return { tag: error.name, message: error.message }
  }
  return { tag: "UnknownError", message: String(error) }
}

/** The stored form of a defect (an unexpected exception in a body). */
export const defectError = (cause: Cause.Cause<unknown>): StoredError => {
  const defect = Cause.findDefect(cause)
  return {
    tag: "Defect",
    message: defect._tag === "Success" ? toStoredError(defect.success).message : storableText(Cause.pretty(cause))
  }
}

/**
 * The delay before attempt `attempt + 1`, or `None` when the schedule allows no more. The schedule is stepped
 * afresh `attempt` times, so the answer depends only on the attempt number and the task's times, and survives a
 * restart: the steps for the earlier attempts at `since` (when the task first started), the last one at `now`, so a
 * schedule bounded in time (`Schedule.upTo({ duration })`) sees the time elapsed since the task started.
 */
export const retryDelay = Effect.fnUntraced(function* (
  schedule: Schedule.Schedule<unknown, unknown>,
  attempt: number,
  error: unknown,
  since: number,
  now: number
) {
  const step = yield* Schedule.toStep(schedule)
  let delay = 0
  for (let i = 1; i <= attempt; i++) {
    const result = yield* Effect.exit(step(i === attempt ? now : Math.min(since, now), error))
    if (Exit.isFailure(result)) return Option.none<number>()
    delay = Duration.toMillis(result.value[1])
  }
  return Option.some(delay)
})

/** The result of a task as another process sees it: from its stored record. */
export const exitFromRecord = (task: AnyTask, record: TaskRecord): Effect.Effect<unknown, unknown> => {
  switch (record.status) {
    case "completed":
      return codecsOf(task).decodeOutput(record.output ?? null)
    case "cancelled":
      return Effect.fail(new TaskCancelled({ taskId: record.id }))
    default:
      // the runtime's own error, known whole from the record: the same to every waiter, here or elsewhere
      if (record.error?.tag === "DeadlineExceeded" && record.deadline !== undefined) {
        return Effect.fail(
          new DeadlineExceeded({ taskId: record.id, taskName: record.name, deadline: record.deadline })
        )
      }
      return Effect.fail(
        new TaskFailed({
          taskId: record.id,
          errorTag: record.error?.tag ?? "UnknownError",
          reason: record.error?.message ?? ""
        })
      )
  }
}

/** What the store records for how an attempt ended, and what local waiters get when it ends the task. */
export interface Ending {
  readonly transition: Transition
  /** The result handed to waiters in this process when the transition ends the task. */
  readonly exit: Exit.Exit<unknown, unknown>
}

/** What this runtime did to an attempt from outside its body. */
export interface Asked {
  /** A cancel was asked (here, or from another process and carried out here). */
  readonly cancel: boolean
  /** A pause was asked. */
  readonly pause: boolean
  /** This runtime interrupted the attempt: a cancel, a pause, a shutdown, or its lease was lost. */
  readonly stopped: boolean
}

/**
 * Decides what the store records for how an attempt ended. A body that returned has completed, even when a cancel
 * or a pause came meanwhile (it saw `shouldStop` and returned within the grace period). Otherwise a cancel asked
 * wins; a pause asked turns the interruption into a suspension; an interruption by this runtime alone (a shutdown)
 * hands the task back; any other failure, an interruption the body made itself included, is retried while the
 * task's Schedule allows.
 */
export const decideEnding = (
  task: AnyTask,
  record: TaskRecord,
  exit: Exit.Exit<unknown, unknown>,
  asked: Asked
): Effect.Effect<Ending> => {
  // The common case without a generator (it runs once per attempt).
  if (Exit.isSuccess(exit)) {
    const encoded = codecsOf(task).encodeOutput(exit.value)
    return Exit.isExit(encoded)
      ? Exit.succeed(completion(exit, encoded))
      : Effect.map(Effect.exit(encoded), (e) => completion(exit, e))
  }
  return decideAny(task, record, exit, asked)
}

/** A successful attempt's ending, once its output is encoded (or could not be). */
const completion = (exit: Exit.Exit<unknown, unknown>, encoded: Exit.Exit<unknown, unknown>): Ending =>
  Exit.isSuccess(encoded)
    ? { transition: { _tag: "Completed", output: encoded.value as Schema.Json }, exit }
    : {
        transition: {
          _tag: "Failed",
          error: toStoredError(Option.getOrUndefined(Cause.findErrorOption(encoded.cause)))
        },
        exit: encoded
      }

const decideAny = Effect.fnUntraced(function* (
  task: AnyTask,
  record: TaskRecord,
  exit: Exit.Exit<unknown, unknown>,
  asked: Asked
) {
  if (Exit.isSuccess(exit)) return completion(exit, yield* Effect.exit(codecsOf(task).encodeOutput(exit.value)))
  const cause = exit.cause
  if (asked.cancel && findSuspend(cause) === undefined) {
    // A cancel was asked: however the attempt ended (it may have stopped by itself), the task is cancelled.
    return {
      transition: { _tag: "Cancelled" },
      exit: Exit.fail(new TaskCancelled({ taskId: record.id }))
    } satisfies Ending
  }
  if (asked.pause && Cause.hasInterruptsOnly(cause)) {
    return { transition: { _tag: "Suspended", reason: { _tag: "Paused" } }, exit } satisfies Ending
  }
  // A body's own wait (a sleep, a signal, its children) with a deadline ends at the deadline at the latest, so that the
  // task fails then (`body.ts`). A pause from outside does not: someone paused it, and it fails when resumed.
  const deadline = record.deadline
  const suspension = findSuspend(cause)
  if (suspension?.children !== undefined) {
    const { ids, mode, total } = suspension.children
    return {
      transition: { _tag: "AwaitingChildren", children: ids, mode, total, runAt: deadline },
      exit
    } satisfies Ending
  }
  if (suspension !== undefined) {
    return {
      transition: {
        _tag: "Suspended",
        reason: suspension.reason,
        runAt:
          suspension.runAt === undefined || deadline === undefined
            ? (suspension.runAt ?? deadline)
            : Math.min(suspension.runAt, deadline)
      },
      exit
    } satisfies Ending
  }
  const failure = Cause.findErrorOption(cause)
  if (Option.isNone(failure) && Cause.hasDies(cause)) {
    const error = defectError(cause)
    return {
      transition: { _tag: "Failed", error },
      exit: Exit.fail(new TaskFailed({ taskId: record.id, errorTag: error.tag, reason: error.message }))
    } satisfies Ending
  }
  // Interrupted by this runtime alone (a shutdown, a lost lease): handed back at the same attempt, not a retry.
  if (Option.isNone(failure) && asked.stopped) {
    return { transition: { _tag: "Requeued", attempt: record.attempt }, exit } satisfies Ending
  }
  // Interrupted by the body itself: a failure like any other. Re-running it at once could loop for ever.
  const error = Option.isSome(failure)
    ? failure.value
    : new TaskInterrupted({ taskId: record.id, taskName: record.name, attempt: record.attempt })
  const failed = Option.isSome(failure) ? exit : Exit.fail(error)
  const stored = toStoredError(error)
  const isRetryable =
    stored.tag !== "InvalidTaskInput" && stored.tag !== "InvalidTaskOutput" && stored.tag !== "DeadlineExceeded"
  if (isRetryable && Option.isSome(task.retry)) {
    const now = yield* Clock.currentTimeMillis
    const delay = yield* retryDelay(
      task.retry.value as Schedule.Schedule<unknown, unknown>,
      record.attempt,
      error,
      record.startedAt ?? record.createdAt,
      now
    )
    // A retry that could not start before the deadline is not made: the task fails with this attempt's error.
    if (Option.isSome(delay) && (deadline === undefined || now + delay.value < deadline)) {
      return {
        transition: { _tag: "Requeued", attempt: record.attempt + 1, runAt: now + delay.value, error: stored },
        exit: failed
      } satisfies Ending
    }
  }
  return { transition: { _tag: "Failed", error: stored }, exit: failed } satisfies Ending
})
