/**
 * The `maxParallel` slots of this process: one semaphore per (session, task name), taken before a claim and given
 * back when the attempt ends. The store counts live leases across processes; these keep a process from claiming more
 * than it may run, and a waiting driver from spinning on claims the store refuses.
 */
import { Semaphore } from "effect"
import type { AnyTask } from "./registry.ts"

export interface Slots {
  /** The semaphore that counts running instances of `task` in a session. */
  readonly of: (task: AnyTask, sessionId: string | undefined) => Semaphore.Semaphore
}

export const makeSlots = (): Slots => {
  const semaphores = new Map<string, Semaphore.Semaphore>()
  // Creating a semaphore is synchronous, so two fibers can never create two for one key.
  const of = (task: AnyTask, sessionId: string | undefined) => {
    const key = `${sessionId ?? ""}\u0000${task.name}`
    let semaphore = semaphores.get(key)
    if (semaphore === undefined) {
      semaphore = Semaphore.makeUnsafe(task.maxParallel)
      semaphores.set(key, semaphore)
    }
    return semaphore
  }
  return { of }
}
