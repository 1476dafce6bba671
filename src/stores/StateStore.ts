/**
 * The contract for task state: JSON values under string keys, grouped in scopes (a task, a session, a named
 * scope). Each entry carries a version that grows with every write, so `modify` can be made atomic across
 * processes with a compare-and-set in one round trip.
 */
import { Context, type Effect, type Option, type Schema } from "effect"
import type { StoreError } from "./errors.ts"

/** One stored value. `expiresAt` (epoch millis) makes it read as absent from that time on. */
export interface StateEntry {
  readonly value: Schema.Json
  readonly expiresAt?: number | undefined
  /** 1 for a new key; grows by one with every write of the key. */
  readonly version: number
}

/** A value to write; the store assigns the version. */
export interface StateWrite {
  readonly value: Schema.Json
  readonly expiresAt?: number | undefined
}

/** The scope of one task's own state (`TaskState`), which a forked tree's task copies from the task it continues. */
export const taskScopeId = (taskId: string): string => `task:${taskId}`

export class StateStore extends Context.Service<
  StateStore,
  {
    readonly get: (scope: string, key: string) => Effect.Effect<Option.Option<StateEntry>, StoreError>
    /** Every entry of the scope, expired ones included (the caller filters by its clock). */
    readonly getAll: (scope: string) => Effect.Effect<ReadonlyMap<string, StateEntry>, StoreError>
    /** Writes several keys at once: all or none. */
    readonly put: (scope: string, entries: ReadonlyMap<string, StateWrite>) => Effect.Effect<void, StoreError>
    /**
     * Writes `key` only if its current version is `expected` (0: the key must be absent). `false` when another
     * writer got there first; nothing is written then.
     */
    readonly compareAndSet: (
      scope: string,
      key: string,
      expected: number,
      entry: StateWrite
    ) => Effect.Effect<boolean, StoreError>
    readonly delete: (scope: string, key: string) => Effect.Effect<void, StoreError>
    readonly clear: (scope: string) => Effect.Effect<void, StoreError>
  }
>()("waypoint/stores/StateStore") {}
