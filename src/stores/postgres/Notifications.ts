/**
 * Wake-ups for workers, pushed by the database: every statement that may make a task runnable (a create, a requeue,
 * a suspension with a due time, a wake, a hand-back) sends `pg_notify` on one channel from its own RETURNING list,
 * so it notifies only when it changed a row, and every process listening on the database hears of it when that
 * statement commits. The listener starts on the first wait and closes with the database's scope.
 */
import { type SQL, sql } from "drizzle-orm"
import type { PgColumn } from "drizzle-orm/pg-core"
import { Clock, Context, Deferred, Effect, type Fiber, Exit, Scope, Semaphore } from "effect"
import { StoreError } from "../errors.ts"

/** The channel of every wake-up; the payload is the task's due time in epoch milliseconds, or empty for now. */
export const channel = "waypoint_work"

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
 * Subscribes to `channel`: `onNotify` gets each payload, `onListen` runs each time the subscription is (re)made (a
 * reconnect loses what was sent meanwhile). Resolves to the unsubscribe.
 */
export type Listen = (onNotify: (payload: string) => void, onListen: () => void) => Promise<() => Promise<unknown>>

// Due times kept for waiters beyond this many are dropped (the latest first): polling finds those tasks.
const maxDueTimes = 1024
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
  }
>()("waypoint/stores/postgres/Notifications") {
  /** Wake-ups over `listen`; the subscription, once made, is undone when the current scope closes. */
  static readonly make = (listen: Listen): Effect.Effect<Notifications["Service"], never, Scope.Scope> =>
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const lock = yield* Semaphore.make(1)
      let listening = false
      // Counts wake-ups (and (re)subscriptions); each waiting fiber remembers the count it last returned at.
      let heard = 0
      const returnedAt = new WeakMap<Fiber.Fiber<unknown, unknown>, number>()
      // Future due times, ascending: a waiter returns when the first has come.
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
          // the waiter compares it with its own clock: a time already passed wakes it at once
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
            try: () => listen(onNotify, onListen),
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

      /** Drops the due times that have come; true if there were any. */
      const takeDue = (now: number) => {
        let count = 0
        while (count < dueTimes.length && (dueTimes[count] as number) <= now) count++
        dueTimes.splice(0, count)
        return count > 0
      }

      const awaitWork = (maxWaitMillis: number) =>
        Effect.gen(function* () {
          if (!listening) yield* start
          const fiber = yield* Effect.fiber
          const deadline = (yield* Clock.currentTimeMillis) + Math.max(0, maxWaitMillis)
          // What was heard between this fiber's previous return and now counts: it may have been after its last look.
          const since = returnedAt.get(fiber) ?? 0
          while (true) {
            // taken before the checks, so a notification that lands after them still ends the wait below
            const next = changed
            if (heard !== since) break
            const now = yield* Clock.currentTimeMillis
            if (takeDue(now) || now >= deadline) break
            const until = Math.min(deadline, dueTimes[0] ?? Number.POSITIVE_INFINITY)
            yield* Effect.raceFirst(Deferred.await(next), Effect.sleep(until - now))
          }
          returnedAt.set(fiber, heard)
        })

      return Notifications.of({ awaitWork })
    })
}
