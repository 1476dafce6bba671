/**
 * Scope ids of task state, and the write locks of the scopes: one semaphore per scope, kept in a registry
 * guarded by its own semaphore, and dropped when no fiber holds or waits for it.
 */
import { Effect, Semaphore } from "effect"

export { taskScopeId } from "../../../stores/StateStore.ts"

/** The scope shared by the tasks of one session. */
export const sessionScopeId = (sessionId: string): string => `session:${sessionId}`

/** A scope shared by every task that names it. */
export const namedScopeId = (name: string): string => `named:${name}`

/** The write locks of the scopes, one per scope. */
export interface ScopeLocks {
  /** Runs `effect` holding the write lock of `scopeId`; other scopes are not blocked. */
  readonly withLock: (scopeId: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** How many scopes have a lock now (held or awaited); the registry forgets a scope nobody writes. */
  readonly size: Effect.Effect<number>
}

interface LockEntry {
  readonly semaphore: Semaphore.Semaphore
  /** Fibers holding or waiting for the semaphore; at 0 the entry is removed. */
  users: number
}

/** An empty registry of scope locks. */
export const makeScopeLocks = (): ScopeLocks => {
  const entries = new Map<string, LockEntry>()
  const guard = Semaphore.makeUnsafe(1)

  const acquire = (scopeId: string) =>
    guard.withPermit(
      Effect.sync(() => {
        let entry = entries.get(scopeId)
        if (entry === undefined) {
          entry = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
          entries.set(scopeId, entry)
        }
        entry.users++
        return entry
      })
    )

  const release = (scopeId: string, entry: LockEntry) =>
    guard.withPermit(
      Effect.sync(() => {
        entry.users--
        // Another fiber may have registered meanwhile; only the last user removes the entry.
        if (entry.users === 0 && entries.get(scopeId) === entry) entries.delete(scopeId)
      })
    )

  return {
    withLock:
      (scopeId) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.acquireUseRelease(
          acquire(scopeId),
          (entry) => entry.semaphore.withPermit(effect),
          (entry) => release(scopeId, entry)
        ),
    size: guard.withPermit(Effect.sync(() => entries.size))
  }
}
