/**
 * A session groups related tasks under one id: they are listed and cancelled together, and a task's
 * `maxParallel` counts the instances running in its session.
 */
import type { Effect } from "effect"
import type { InvalidCursor, StoreError } from "../stores/errors.ts"
import type { TaskPage, TaskQuery } from "../stores/TaskStore.ts"
import type { IdempotencyKeyReused, InvalidTaskInput, MaxInstancesReached } from "./errors.ts"
import type { ExecutionServices } from "./Plugin.ts"
import type { Task } from "./Task.ts"
import type { TaskError, TaskHandle } from "./TaskHandle.ts"

/** Options of a run or submit inside a session. */
export interface SessionSubmitOptions {
  readonly id?: string | undefined
  readonly onLimit?: "wait" | "fail" | undefined
}

export interface Session<P> {
  readonly id: string
  readonly run: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SessionSubmitOptions
  ) => Effect.Effect<O, TaskError<E> | MaxInstancesReached | IdempotencyKeyReused>
  readonly submit: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SessionSubmitOptions
  ) => Effect.Effect<TaskHandle<O, E>, InvalidTaskInput | MaxInstancesReached | IdempotencyKeyReused | StoreError>
  /** The session's tasks, oldest first. */
  readonly list: (query: Omit<TaskQuery, "sessionId">) => Effect.Effect<TaskPage, StoreError | InvalidCursor>
  /** Cancels every unfinished task of the session. */
  readonly cancelAll: Effect.Effect<void, StoreError>
}
