/**
 * A memory store that closes with its layer's scope, as a PostgreSQL store does: every later call fails with a
 * `StoreError` whose cause is `StoreClosed`. Without it, code tested in memory keeps working where, in production, a
 * runtime that outlives its store's layer fails.
 */
import { Effect, Predicate, type Scope } from "effect"
import { StoreClosed, StoreError } from "../errors.ts"

/** `service`, whose operations fail once the current Scope (the layer's) has closed. */
export const closable = <S extends object>(service: S): Effect.Effect<S, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => ({ isClosed: false })),
      (state) =>
        Effect.sync(() => {
          state.isClosed = true
        })
    ),
    (state) => {
      const guarded: Record<string, unknown> = {}
      for (const [operation, value] of Object.entries(service)) {
        guarded[operation] = Predicate.isFunction(value)
          ? (...args: ReadonlyArray<unknown>) =>
              state.isClosed
                ? Effect.fail(new StoreError({ operation, cause: new StoreClosed({ operation, cause: undefined }) }))
                : (value as (...args: ReadonlyArray<unknown>) => unknown)(...args)
          : value
      }
      return guarded as S
    }
  )
