/**
 * Turning the end of an attempt into what the store records, and a stored record back into a result.
 */
import { Cause, Duration, Effect, Exit, Option, Predicate, Schedule, Schema } from "effect"
import type { StoredError, TaskRecord } from "../../stores/TaskRecord.ts"
import { InvalidTaskInput, InvalidTaskOutput, TaskCancelled, TaskFailed } from "../errors.ts"
import type { Task } from "../Task.ts"

/** A task with its types erased, as the runtime keeps it in its registry. */
export type AnyTask = Task<unknown, unknown, unknown, unknown>

export const erase = <I, O, E, R>(task: Task<I, O, E, R>): AnyTask => task as unknown as AnyTask

/** The stored form of any failure value: its tag and message, nothing that could fail to serialise. */
export const toStoredError = (error: unknown): StoredError => {
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
    message: defect._tag === "Success" ? toStoredError(defect.success).message : Cause.pretty(cause)
  }
}

/**
 * The delay before attempt `attempt + 1`, or `None` when the schedule allows no more. The schedule is stepped
 * afresh `attempt` times, so the answer depends only on the attempt number and survives a restart.
 */
export const retryDelay = Effect.fnUntraced(function* (
  schedule: Schedule.Schedule<unknown, unknown>,
  attempt: number,
  error: unknown,
  now: number
) {
  const step = yield* Schedule.toStep(schedule)
  let delay = 0
  for (let i = 0; i < attempt; i++) {
    const result = yield* Effect.exit(step(now, error))
    if (Exit.isFailure(result)) return Option.none<number>()
    delay = Duration.toMillis(result.value[1])
  }
  return Option.some(delay)
})

/** Decodes a stored input; a mismatch is `InvalidTaskInput`. */
export const decodeInput = (task: AnyTask, input: unknown) =>
  Effect.mapError(
    Schema.decodeUnknownEffect(task.input)(input),
    (error) => new InvalidTaskInput({ taskName: task.name, issue: error.message })
  )

/** Encodes an output for the store; a mismatch is `InvalidTaskOutput`. */
export const encodeOutput = (task: AnyTask, output: unknown) =>
  Effect.mapError(
    Schema.encodeUnknownEffect(task.output)(output),
    (error) => new InvalidTaskOutput({ taskName: task.name, issue: error.message })
  )

/** The result of a task as another process sees it: from its stored record. */
export const exitFromRecord = (task: AnyTask, record: TaskRecord): Effect.Effect<unknown, unknown> => {
  switch (record.status) {
    case "completed":
      return Effect.mapError(
        Schema.decodeUnknownEffect(task.output)(record.output ?? null),
        (error) => new InvalidTaskOutput({ taskName: task.name, issue: error.message })
      )
    case "cancelled":
      return Effect.fail(new TaskCancelled({ taskId: record.id }))
    default:
      return Effect.fail(
        new TaskFailed({
          taskId: record.id,
          errorTag: record.error?.tag ?? "UnknownError",
          reason: record.error?.message ?? ""
        })
      )
  }
}
