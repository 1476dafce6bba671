/**
 * A session groups related tasks under one id: they are listed and cancelled together, and a task's
 * `maxParallel` counts the instances running in its session.
 */
import type { Effect } from "effect"
import type { InvalidCursor, StoreError } from "../stores/errors.ts"
import type { TaskPage, TaskQuery } from "../stores/TaskStore.ts"
import type { RunTask, SubmitOptions, SubmitTask } from "./Runtime.ts"

/** Options of a run or submit inside a session: those of the runtime's, but the session. */
export type SessionSubmitOptions = Omit<SubmitOptions, "session">

export interface Session<P> {
  readonly id: string
  readonly run: RunTask<P, SessionSubmitOptions>
  readonly submit: SubmitTask<P, SessionSubmitOptions>
  /** The session's tasks, oldest first. */
  readonly list: (query: Omit<TaskQuery, "sessionId">) => Effect.Effect<TaskPage, StoreError | InvalidCursor>
  /** Cancels every unfinished task of the session. */
  readonly cancelAll: Effect.Effect<void, StoreError>
}
