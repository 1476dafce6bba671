/**
 * Scope ids of task state, the write locks of the scopes (one semaphore per scope, dropped when no fiber holds or
 * waits for it), and the queues of `modify` calls waiting to be written together (`groupCommit.ts`).
 */
import { Effect, Semaphore } from "effect"
import { type GroupCommit, makeGroupCommit } from "./groupCommit.ts"
import type { ModifyRequest } from "./modifyBatch.ts"

export { taskScopeId } from "../../../stores/StateStore.ts"

/** The scope shared by the tasks of one session. */
export const sessionScopeId = (sessionId: string): string => `session:${sessionId}`

/** A scope shared by every task that names it. */
export const namedScopeId = (name: string): string => `named:${name}`

/** The write locks of the scopes, one per scope, and the queues of modifies, one per key being modified. */
export interface ScopeLocks {
  /** Runs `effect` holding the write lock of `scopeId`; other scopes are not blocked. */
  readonly withLock: (scopeId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many scopes have a lock now (held or awaited); the registry forgets a scope nobody writes. */
  readonly size: Effect.Effect<number>
  /** The modifies of each key, written in batches. */
  readonly modifies: GroupCommit<ModifyRequest>
}

interface LockEntry {
  readonly semaphore: Semaphore.Semaphore
  /** Fibers holding or waiting for the semaphore; at 0 the entry is removed. */
  users: number
}

/** An empty registry of scope locks. */
export const makeScopeLocks = (): ScopeLocks => {
  // Every change of the registry is one synchronous step, which no other fiber can interleave with: no guard.
  const entries = new Map<string, LockEntry>()

  const acquire = (scopeId: string) => {
    let entry = entries.get(scopeId)
    if (entry === undefined) {
      entry = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
      entries.set(scopeId, entry)
    }
    entry.users++
    return entry
  }

  const release = (scopeId: string, entry: LockEntry) =>
    Effect.sync(() => {
      entry.users--
      // Another fiber may have registered meanwhile; only the last user removes the entry.
      if (entry.users === 0 && entries.get(scopeId) === entry) entries.delete(scopeId)
    })

  return {
    withLock:
      (scopeId) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        // Registered and released uninterruptibly, so that the count of users stays exact; the wait for the
        // semaphore stays as interruptible as the caller.
        Effect.uninterruptibleMask((restore) =>
          Effect.suspend(() => {
            const entry = acquire(scopeId)
            return Effect.ensuring(restore(entry.semaphore.withPermit(effect)), release(scopeId, entry))
          })
        ),
    size: Effect.sync(() => entries.size),
    modifies: makeGroupCommit<ModifyRequest>()
  }
}
