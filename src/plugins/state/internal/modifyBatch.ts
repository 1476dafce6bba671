/**
 * How a batch of `modify` calls on one key is written (`groupCommit.ts`): read the entry once, apply every caller's
 * function in order, each to the value the one before made, and write the last value in one compare-and-set. When
 * another process wrote the key in between, the batch is applied again to what it wrote.
 */
import { Cause, Clock, type Duration, Effect, Exit, Option, type Schema } from "effect"
import type { StateStore, StateWrite } from "../../../stores/StateStore.ts"
import { StateConflict } from "../errors.ts"
import { expiryOf, isLive } from "./expiry.ts"
import type { Commit, Member, Restore } from "./groupCommit.ts"

type Json = Schema.Json

/** One caller's `modify`. */
export interface ModifyRequest {
  /** Its function with the result checked as storable JSON, in the caller's own context; may run more than once. */
  readonly apply: (current: Option.Option<Json>) => Effect.Effect<Json, unknown>
  /** The TTL the call gives; without one, the entry keeps its expiry. */
  readonly ttl: Duration.Input | undefined
  /** The TTL of a new entry when the call gives none: its view's. */
  readonly defaultTtl: Duration.Input | undefined
}

/** Tries of one batch against writers in other processes before `StateConflict`. */
const maxModifyAttempts = 100

/**
 * Whether the fiber has been interrupted: `restore` fails at once then. A caller's function that interrupts itself
 * fails only its caller; the leader being interrupted leaves the rest of the batch to the next leader.
 */
const isInterrupted = (restore: Restore) => Effect.map(Effect.exit(restore(Effect.void)), Exit.isFailure)

/** Settles every member with `exit`. */
const settleAll = (members: ReadonlyArray<Member<ModifyRequest>>, exit: Exit.Exit<unknown, unknown>) => {
  for (const member of members) member.outcome = exit
}

/**
 * The commit of the modifies of a key, under its scope's write lock. A caller whose function fails (or whose value is
 * not storable) fails alone, its update skipped; a failed read or write fails the whole batch.
 */
export const commitModifies =
  (
    store: StateStore["Service"],
    withLock: (scope: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ): Commit<ModifyRequest, never> =>
  (scope, key, batch, restore) =>
    restore(withLock(scope)(Effect.uninterruptibleMask((restore) => attempts(store, scope, key, batch, restore))))

const attempts = (
  store: StateStore["Service"],
  scope: string,
  key: string,
  batch: ReadonlyArray<Member<ModifyRequest>>,
  restore: Restore
): Effect.Effect<void, unknown> =>
  Effect.gen(function* () {
    let pending = batch
    for (let attempt = 1; ; attempt++) {
      const now = yield* Clock.currentTimeMillis
      const read = yield* Effect.exit(restore(store.get(scope, key)))
      if (Exit.isFailure(read)) {
        if (Cause.hasInterrupts(read.cause) && (yield* isInterrupted(restore))) {
          return yield* Effect.failCause(read.cause)
        }
        return settleAll(pending, read)
      }
      const stored = read.value
      let current: StateWrite | undefined =
        Option.isSome(stored) && isLive(stored.value, now) ? stored.value : undefined
      let written: StateWrite | undefined
      const applied: Array<Member<ModifyRequest>> = []
      const results: Array<Exit.Exit<Json, unknown>> = []
      for (const member of pending) {
        const { apply, ttl, defaultTtl } = member.input
        const result = yield* Effect.exit(
          restore(apply(current === undefined ? Option.none() : Option.some(current.value)))
        )
        if (Exit.isFailure(result)) {
          if (Cause.hasInterrupts(result.cause) && (yield* isInterrupted(restore))) {
            return yield* Effect.failCause(result.cause)
          }
          member.outcome = result
          continue
        }
        // Written one after the other, each entry would keep the expiry of the one before unless given a TTL.
        const expiresAt =
          ttl !== undefined || current === undefined ? expiryOf(now, ttl ?? defaultTtl) : current.expiresAt
        written = { value: result.value, expiresAt }
        current = isLive(written, now) ? written : undefined
        applied.push(member)
        results.push(result)
      }
      if (written === undefined) return // every caller failed, each settled with its own failure
      pending = applied
      // Uninterruptible from here on: once written, every caller of the batch must get its result.
      const expected = Option.isSome(stored) ? stored.value.version : 0
      const won = yield* Effect.exit(store.compareAndSet(scope, key, expected, written))
      if (Exit.isFailure(won)) return settleAll(pending, won)
      if (won.value) {
        for (let i = 0; i < applied.length; i++) (applied[i] as Member<ModifyRequest>).outcome = results[i]
        return
      }
      // Retry at once: the version just lost to is the newest, and reading it before this process's next writer
      // does keeps one busy process from starving the others.
      if (attempt >= maxModifyAttempts) {
        return settleAll(pending, Exit.fail(new StateConflict({ scope, key, attempts: attempt })))
      }
    }
  })
