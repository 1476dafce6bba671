/**
 * A handle on a submitted task: read its status, wait for its result, cancel it, follow its events. A handle is
 * a view over the store plus the runtime's events, so it works for a task that runs in another process too.
 */
import type { Duration, Effect, Stream } from "effect"
import type { StoreError } from "../stores/errors.ts"
import type { TaskRecord, TaskStatus } from "../stores/TaskRecord.ts"
import type { ResultTimeout, SignalRejected, StoreMissing, TaskEndError, TaskNotFound } from "./errors.ts"
import type { TaskEvent } from "./TaskEvent.ts"

/** Every way awaiting a task can fail: the body's own error `E`, or what the runtime reports. */
export type TaskError<E> = E | TaskEndError | StoreError

export interface TaskHandle<O, E> {
  readonly id: string
  readonly name: string
  readonly status: Effect.Effect<TaskStatus, TaskNotFound | StoreError>
  /** The stored record: status, attempt, times, output or last error. */
  readonly info: Effect.Effect<TaskRecord, TaskNotFound | StoreError>
  /** Waits until the task ends; succeeds with its output or fails with its error. */
  readonly await: Effect.Effect<O, TaskError<E>>
  /** As `await`, but gives up with `ResultTimeout` after `timeout`; the task goes on. */
  readonly result: (timeout: Duration.Input) => Effect.Effect<O, TaskError<E> | ResultTimeout>
  /** Interrupts the task (its finalizers run) and records it `cancelled`, with its child tasks. */
  readonly cancel: Effect.Effect<void, TaskNotFound | StoreError>
  /** Sends a signal to the task (see `Runtime.signal`). */
  readonly signal: (
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | StoreMissing | TaskNotFound | StoreError>
  /** The task's current status, then each change, ending after a final status. */
  readonly events: Stream.Stream<TaskEvent, TaskNotFound | StoreError>
}
