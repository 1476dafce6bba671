/**
 * The leases of the attempts executing here: one fiber renews them all, every third of the lease's duration. A
 * lease the store says is lost interrupts its attempt at once (self-fencing). A cancel or pause another process asks
 * comes with a heartbeat, or at once through the store's requests, and is carried out here as a local one is.
 */
import { Clock, Effect, Stream } from "effect"
import type { Control } from "./control.ts"
import type { Core } from "./core.ts"
import { type Attempt, interruptAttempt, type LiveTask } from "./LiveTask.ts"
import { Attribute, markSpan, SpanName } from "./tracing.ts"

export interface Leases {
  /** Renews the leases of the attempts executing here; runs forever in the runtime's Scope. */
  readonly heartbeats: Effect.Effect<never>
  /** From the first call on, requests asked from other processes are heard at once (idempotent, cheap). */
  readonly listenForRequests: Effect.Effect<void>
  /** Whether `listenForRequests` has started listening. */
  readonly isListening: () => boolean
}

export const makeLeases = (core: Core, control: Control): Leases => {
  const { store, live: liveTasks } = core
  let listening = false

  /** A lost lease, told in the attempt's span (which then ends with the attempt's interruption). */
  const leaseLostSpan = (live: LiveTask, attempt: Attempt) =>
    attempt.span === undefined
      ? Effect.void
      : markSpan(SpanName.leaseLost, attempt.span, {
          [Attribute.taskId]: live.id,
          [Attribute.fencingToken]: attempt.token
        })

  /**
   * One heartbeat of one attempt. A beat the store could not take is tried again at the next one (the lease outlasts
   * two misses).
   */
  const beat = (live: LiveTask, attempt: Attempt): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      store.heartbeat(live.id, attempt.token, now + core.leaseMillis)
    ).pipe(
      Effect.catchTag("LeaseLost", () =>
        Effect.andThen(
          leaseLostSpan(live, attempt),
          Effect.suspend(() => {
            // Lost while its onStart hooks run: the body will not start.
            if (attempt.fiber === undefined) {
              attempt.fenced = true
              return Effect.void
            }
            // Interrupt without waiting for the attempt's finalizers, so the other leases are renewed on time.
            return Effect.asVoid(Effect.forkIn(interruptAttempt(attempt, attempt.fiber), core.scope))
          })
        )
      ),
      // Asked from another process: carried out here as a local cancel or pause is (a cancel's grace period
      // included), once at a time.
      Effect.catchTag("CancelRequested", () => carryOut(live, attempt, control.cancel(live.id))),
      Effect.catchTag("PauseRequested", () => carryOut(live, attempt, control.pause(live.id))),
      Effect.catchTag("StoreError", () => Effect.void)
    )

  /** Carries out a request another process made of `attempt`, in a fiber of its own, once at a time per task. */
  const carryOut = (live: LiveTask, attempt: Attempt, request: Effect.Effect<unknown, unknown>) =>
    Effect.suspend(() => {
      if (live.attempt !== attempt || live.carryingOut) return Effect.void
      live.carryingOut = true
      const carried = Effect.ensuring(
        Effect.ignore(request),
        Effect.sync(() => {
          live.carryingOut = false
          liveTasks.release(live)
        })
      )
      return Effect.asVoid(Effect.forkIn(carried, core.scope))
    })

  const listenForRequests = Effect.suspend(() => {
    if (listening) return Effect.void
    listening = true
    // A store whose stream ends or fails (against its contract) is listened to again from the next attempt on.
    const heard = Stream.runForEach(store.requests, (id) =>
      Effect.suspend(() => {
        const live = liveTasks.get(id)
        const attempt = live?.attempt
        return live === undefined || attempt === undefined ? Effect.void : beat(live, attempt)
      })
    ).pipe(
      Effect.catchCause((cause) => Effect.logWarning("the store's requests stopped; heartbeats carry them", cause)),
      Effect.ensuring(
        Effect.sync(() => {
          listening = false
        })
      )
    )
    // started at once: a store that subscribes synchronously (in memory) hears a request asked right after
    return Effect.asVoid(Effect.forkIn(heard, core.scope, { startImmediately: true }))
  })

  const heartbeats: Effect.Effect<never> = Effect.forever(
    Effect.andThen(
      Effect.sleep(Math.max(1, Math.floor(core.leaseMillis / 3))),
      Effect.suspend(() =>
        Effect.forEach(
          liveTasks.withAttempts(),
          (live) => (live.attempt === undefined ? Effect.void : beat(live, live.attempt)),
          { concurrency: 8, discard: true }
        )
      )
    )
  )

  return { heartbeats, listenForRequests, isListening: () => listening }
}
