/**
 * Compile-time checks: `npm run typecheck` fails if an expectation here stops failing.
 * Task state: `getOr` is typed from its fallback; only the session's scope can fail with `NotInSession`.
 */
import { Effect, type Option, type Schema } from "effect"
import { type NotInSession, type StateDecodeError, type StoreError, TaskState } from "../../src/index.ts"

export const program = Effect.gen(function* () {
  const state = yield* TaskState
  const count: Effect.Effect<number, StateDecodeError | StoreError> = state.getOr("count", 0)
  const title: Effect.Effect<string, StateDecodeError | StoreError> = state.getOr("title", "untitled")
  const named: Effect.Effect<Option.Option<Schema.Json>, StoreError> = state.scope("inventory").get("apples")
  // @ts-expect-error the session's scope may fail with NotInSession
  const session: Effect.Effect<Option.Option<Schema.Json>, StoreError> = state.scope("session").get("answer")
  const sessionTyped: Effect.Effect<Option.Option<Schema.Json>, StoreError | NotInSession> = state
    .scope("session")
    .get("answer")
  const name: string = "session"
  // @ts-expect-error a scope name known only at run time may be the session's
  const dynamic: Effect.Effect<Option.Option<Schema.Json>, StoreError> = state.scope(name).get("answer")
  return [count, title, named, session, sessionTyped, dynamic]
})
