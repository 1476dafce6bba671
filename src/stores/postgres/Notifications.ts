/**
 * Wake-ups for workers, pushed by the database: a write that may make a task runnable (a create, a requeue, a
 * suspension with a due time, a wake, a hand-back) sends `pg_notify` on one channel, heard by every listening process
 * once it has committed; the listener starts on the first wait. Cancels and pauses asked go on `requestChannel`.
 *
 * On PGlite the writing statement notifies from its RETURNING list, at no measurable cost. On a server a statement of
 * its own follows the write: notifying inside it holds the server's notify lock through the commit and serialized 16
 * concurrent inserts (3 800-4 100/s against 7 300-8 800/s, measured). A process that dies between the two loses that
 * wake-up: workers find the task at their next poll.
 */

import { Clock, Context, Deferred, Effect, Exit, type Fiber, Option, Queue, Scope, Semaphore, Stream } from "effect"
import { StoreError } from "../errors.ts"
import type { PgColumn } from "./internal/drizzle.ts"
import { type SQL, sql } from "./internal/drizzle.ts"

/** The channel of every wake-up; the payload is the task's due time in epoch milliseconds, or empty for now. */
export const channel = "waypoint_work"
/** The channel of requests of a cancel or a pause; the payload is the task's id. */
export const requestChannel = "waypoint_requests"
/** A notification sent as a statement of its own (`Send`): the channel, then the payload. */
export const notifyQuery = "select pg_notify($1, $2)"

/**
 * A RETURNING column that notifies once per returned row (identical payloads of one transaction are delivered once)
 * and reads as SQL NULL. `runAt` is the row's due time (NULL: runnable now); with `when`, only rows for which it holds
 * notify. A statement that changes no row returns none, so it notifies nobody.
 */
export const notifyWork = (runAt: PgColumn, when?: SQL): SQL<null> =>
  sql<null>`(select null from pg_notify(${sql.raw(`'${channel}'`)}, coalesce(${runAt}::text, ''))${
    when === undefined ? sql`` : sql` where ${when}`
  })`

/**
 * Subscribes to a channel: `onNotify` gets each payload, `onListen` runs each time the subscription is (re)made (a
 * reconnect loses what was sent meanwhile). Resolves to the unsubscribe.
 */
export type Listen = (
  channel: string,
  onNotify: (payload: string) => void,
  onListen: () => void
) => Promise<() => Promise<unknown>>

/** Sends one notification on a channel, as a statement of its own. */
export type Send = (channel: string, payload: string) => Effect.Effect<void, StoreError>

// Due times kept for waiters beyond this many are dropped (the latest first): polling finds those tasks.
const maxDueTimes = 1024
// How long a `requests` subscription that could not listen waits before it tries again.
const listenRetryMillis = 1000
// How long closing waits for the unsubscribe to reach the database.
const unlistenTimeoutMillis = 1000

export class Notifications extends Context.Service<
  Notifications,
  {
    /**
     * Returns once a wake-up was heard since this fiber's previous return, a notified due time has come, or
     * `maxWaitMillis` have passed. The first call starts the listener (and returns once it listens, as anything
     * sent before was missed); a listener that cannot start fails with `StoreError`, and the next call tries again.
     */
    readonly awaitWork: (maxWaitMillis: number) => Effect.Effect<void, StoreError>
    /**
     * On a server, the notification a write sends once it has committed (a task runnable at `runAt`, now when
     * undefined); it never fails, as the write it follows is done. `None` on PGlite: its writing statements notify
     * themselves (`notifyWork`).
     */
    readonly notifyAfter: Option.Option<(runAt: number | undefined) => Effect.Effect<void>>
    /** Tells every listening process that a cancel or pause of this task was asked; never fails (best effort). */
    readonly announceRequest: (id: string) => Effect.Effect<void>
    /** The ids announced from the subscription on; a listener that cannot start tries again every second. */
    readonly requests: Stream.Stream<string>
  }
>()("waypoint/stores/postgres/Notifications") {
  /**
   * Wake-ups heard through `listen` and, with `afterWrites`, sent with `send` after each write (without, the writes
   * notify themselves); the subscription, once made, is undone when the current scope closes.
   */
  static readonly make = (
    listen: Listen,
    send: Send,
    options: { readonly afterWrites: boolean }
  ): Effect.Effect<Notifications["Service"], never, Scope.Scope> =>
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const lock = yield* Semaphore.make(1)
      let listening = false
      // Counts what may have made a task runnable: wake-ups, due times that came, (re)subscriptions. Each waiting
      // fiber remembers the count it last returned at, so every worker loop hears every wake-up once.
      let heard = 0
      const returnedAt = new WeakMap<Fiber.Fiber<unknown, unknown>, number>()
      // Notified due times not yet come, ascending; the first waiter to see one come counts it as heard.
      const dueTimes: Array<number> = []
      // Completed and replaced on every notification, so waiters look at the state again.
      let changed = Deferred.makeUnsafe<void>()
      const signal = () => {
        Deferred.doneUnsafe(changed, Exit.void)
        changed = Deferred.makeUnsafe<void>()
      }
      const onListen = () => {
        heard++
        signal()
      }
      const onNotify = (payload: string) => {
        const due = payload === "" ? Number.NaN : Number(payload)
        if (Number.isFinite(due)) {
          const at = dueTimes.findIndex((time) => time > due)
          dueTimes.splice(at === -1 ? dueTimes.length : at, 0, due)
          if (dueTimes.length > maxDueTimes) dueTimes.pop()
        } else {
          heard++
        }
        signal()
      }

      const start = Semaphore.withPermit(
        lock,
        Effect.suspend(() => {
          if (listening) return Effect.void
          return Effect.tryPromise({
            try: () => listen(channel, onNotify, onListen),
            catch: (cause) => new StoreError({ operation: "listen", cause })
          }).pipe(
            Effect.flatMap((unlisten) => {
              listening = true
              return Scope.addFinalizer(
                scope,
                Effect.promise(() => unlisten()).pipe(Effect.timeoutOption(unlistenTimeoutMillis), Effect.ignore)
              )
            })
          )
        })
      )

      /** Counts the due times that have come (compared with this process's clock) as heard. */
      const takeDue = (now: number) => {
        let count = 0
        while (count < dueTimes.length && (dueTimes[count] as number) <= now) count++
        if (count === 0) return
        dueTimes.splice(0, count)
        heard++
        signal()
      }

      const awaitWork = (maxWaitMillis: number) =>
        Effect.gen(function* () {
          if (!listening) yield* start
          const fiber = yield* Effect.fiber
          const deadline = (yield* Clock.currentTimeMillis) + Math.max(0, maxWaitMillis)
          // What was heard between this fiber's previous return and now counts: it may have come after its last look.
          const since = returnedAt.get(fiber) ?? 0
          while (true) {
            // taken before the checks, so a notification that lands after them still ends the wait below
            const next = changed
            const now = yield* Clock.currentTimeMillis
            takeDue(now)
            if (heard !== since || now >= deadline) break
            const until = Math.min(deadline, dueTimes[0] ?? Number.POSITIVE_INFINITY)
            yield* Effect.raceFirst(Deferred.await(next), Effect.sleep(until - now))
          }
          returnedAt.set(fiber, heard)
        })

      const notifyAfter = options.afterWrites
        ? Option.some((runAt: number | undefined) =>
            Effect.ignore(send(channel, runAt === undefined ? "" : String(runAt)), { log: "Warn" })
          )
        : Option.none()

      const announceRequest = (id: string) => Effect.ignore(send(requestChannel, id), { log: "Warn" })

      // Each try to listen is a resource of its own; the waits between tries can be interrupted (a closing runtime).
      const requests = Stream.callback<string>((queue) =>
        Effect.acquireRelease(
          Effect.tryPromise({
            try: () =>
              listen(
                requestChannel,
                (id) => {
                  Queue.offerUnsafe(queue, id)
                },
                () => {}
              ),
            catch: (cause) => new StoreError({ operation: "listen", cause })
          }),
          (unlisten) =>
            Effect.promise(() => unlisten()).pipe(Effect.timeoutOption(unlistenTimeoutMillis), Effect.ignore),
          // a database out of reach may hold a try for a connect timeout: a closing runtime does not wait for it
          { interruptible: true }
        ).pipe(
          Effect.tapError(() => Effect.sleep(listenRetryMillis)),
          Effect.eventually
        )
      )

      return Notifications.of({ awaitWork, notifyAfter, announceRequest, requests })
    })
}
