/**
 * A `StateStore` in this process's memory. Each operation is one synchronous step, so a compare-and-set is
 * atomic without a lock.
 */
import { Effect, Layer, Option } from "effect"
import { type StateEntry, StateStore, type StateWrite } from "../StateStore.ts"
import { closable } from "./closable.ts"

/** Builds an empty in-memory state store. */
export const make = Effect.sync(() => {
  const scopes = new Map<string, Map<string, StateEntry>>()
  const scopeOf = (scope: string) => {
    let entries = scopes.get(scope)
    if (entries === undefined) {
      entries = new Map()
      scopes.set(scope, entries)
    }
    return entries
  }
  const write = (entries: Map<string, StateEntry>, key: string, entry: StateWrite) => {
    entries.set(key, {
      value: entry.value,
      expiresAt: entry.expiresAt,
      version: (entries.get(key)?.version ?? 0) + 1
    })
  }

  return StateStore.of({
    get: (scope, key) => Effect.sync(() => Option.fromUndefinedOr(scopes.get(scope)?.get(key))),
    getAll: (scope) => Effect.sync(() => new Map(scopes.get(scope) ?? [])),
    put: (scope, entries) =>
      Effect.sync(() => {
        const target = scopeOf(scope)
        for (const [key, entry] of entries) write(target, key, entry)
      }),
    compareAndSet: (scope, key, expected, entry) =>
      Effect.sync(() => {
        const target = scopeOf(scope)
        if ((target.get(key)?.version ?? 0) !== expected) return false
        write(target, key, entry)
        return true
      }),
    delete: (scope, key) =>
      Effect.sync(() => {
        scopes.get(scope)?.delete(key)
      }),
    clear: (scope) =>
      Effect.sync(() => {
        scopes.delete(scope)
      })
  })
})

/** A fresh in-memory state store for each build of the layer. */
export const layer: Layer.Layer<StateStore> = Layer.effect(StateStore, Effect.flatMap(make, closable))
