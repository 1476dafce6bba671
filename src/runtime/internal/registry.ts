/**
 * The task definitions a runtime knows by name: those it was made with, and each one it runs or submits. A worker
 * claims only tasks it knows; a task found in the store under an unknown name stays there for a runtime that knows it.
 */
import type { Task, TaskDefinition } from "../Task.ts"

/** A task with its types erased, as the runtime keeps it in its registry. */
export type AnyTask = Task<unknown, unknown, unknown, unknown>

export const erase = <I, O, E, R>(task: Task<I, O, E, R>): AnyTask => task as unknown as AnyTask

/** Task definitions by name; the first one registered under a name is kept. */
export interface Registry {
  readonly get: (name: string) => AnyTask | undefined
  readonly register: (task: AnyTask) => void
  readonly names: () => ReadonlyArray<string>
}

export const makeRegistry = (tasks: ReadonlyArray<TaskDefinition>): Registry => {
  const byName = new Map<string, AnyTask>()
  const register = (task: AnyTask) => {
    if (!byName.has(task.name)) byName.set(task.name, task)
  }
  for (const task of tasks) register(task as unknown as AnyTask)
  return { get: (name) => byName.get(name), register, names: () => [...byName.keys()] }
}
