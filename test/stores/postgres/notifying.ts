/**
 * What the notification tests share: a raw listener of the wake-up channel outside the store (on PGlite, on a
 * server), the payloads a write sent, and a fiber parked in `awaitWork`.
 */

import { sql } from "drizzle-orm"
import { Clock, Deferred, Effect, Layer, Option, Predicate, Schedule, Schema, type Scope } from "effect"
import postgres from "postgres"
import { task } from "../../../src/index.ts"
import { PostgresStore } from "../../../src/postgres.ts"
import { Db, execute } from "../../../src/stores/postgres/Db.ts"
import { channel } from "../../../src/stores/postgres/Notifications.ts"
import type { TaskStore } from "../../../src/stores/TaskStore.ts"

export const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) =>
  Effect.succeed(n * 2)
)

/** What a raw listener of the channel heard, in order. */
export interface Heard {
  readonly payloads: Array<string>
}

/** Subscribes to the channel outside the store, for as long as the scope lasts. */
export type RawListen = Effect.Effect<Heard, never, Db | Scope.Scope>

export const getTask = (store: TaskStore["Service"], id: string) => Effect.map(store.get(id), Option.getOrThrow)

export const claimed = (store: TaskStore["Service"], id: string, owner = "w") =>
  Effect.map(store.claim(id, { owner, expiresAt: Number.MAX_SAFE_INTEGER }), Option.getOrThrow)

/** Polls `read` until `done` holds: for events another process or connection makes happen. */
export const eventually = <A, E, R>(read: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.repeat(read, { until: done, schedule: Schedule.spaced("10 millis") }).pipe(Effect.timeout("20 seconds"))

/**
 * A fiber waiting for work, returned once it waits: its first wait (which returns at once, the listener being new
 * to it) is spent, so only what happens next can end the second.
 */
export const waiting = (store: TaskStore["Service"], maxWaitMillis = 3_600_000) =>
  Effect.gen(function* () {
    const ready = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      Effect.gen(function* () {
        yield* store.awaitWork(0)
        yield* Deferred.succeed(ready, undefined)
        yield* store.awaitWork(maxWaitMillis)
        return yield* Clock.currentTimeMillis
      }).pipe(Effect.timeout("20 seconds"))
    )
    yield* Deferred.await(ready)
    return fiber
  })

/**
 * The payloads `op` sent: all heard before a marker sent after it commits (one channel keeps commit order).
 */
export const sentBy = (heard: Heard, db: Db["Service"]) => {
  let marker = 0
  return <A, E, R>(op: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      yield* op
      const mark = `marker ${++marker}`
      yield* execute(db, "marker", sql`select pg_notify(${channel}, ${mark})`)
      yield* eventually(
        Effect.sync(() => heard.payloads.includes(mark)),
        (found) => found
      )
      const before = heard.payloads.splice(0, heard.payloads.indexOf(mark) + 1)
      return before.slice(0, -1)
    })
}

/** A raw listener on the Db's own PGlite client. */
export const rawListenPglite: RawListen = Effect.gen(function* () {
  const db = yield* Db
  const client = (db as unknown as { readonly $client: unknown }).$client
  if (!Predicate.hasProperty(client, "listen") || !Predicate.isFunction(client.listen)) {
    return yield* Effect.die(new Error("the Db is not over a PGlite client"))
  }
  const listen = client.listen as (ch: string, f: (payload: string) => void) => Promise<() => Promise<void>>
  const heard: Heard = { payloads: [] }
  yield* Effect.acquireRelease(
    Effect.promise(() => listen.call(client, channel, (payload) => heard.payloads.push(payload))),
    (unlisten) => Effect.promise(() => unlisten())
  )
  return heard
})

/** A raw listener on a connection of its own to the server database at `url`. */
export const rawListenServer = (url: Effect.Effect<string>): RawListen =>
  Effect.gen(function* () {
    const database = yield* url
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => postgres(database, { max: 1, onnotice: () => {} })),
      (client) => Effect.promise(() => client.end())
    )
    const heard: Heard = { payloads: [] }
    yield* Effect.promise(() => client.listen(channel, (payload) => heard.payloads.push(payload)))
    return heard
  })

/** Every store of a server database, with connections of its own, open until the scope closes. */
export const openServer = (database: string) => Layer.build(PostgresStore.layer({ url: database }))

/** Backends of the server database at `database` listening on the channel, as the server sees them. */
export const listeners = (database: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => postgres(database, { max: 1, onnotice: () => {} })),
    (client) =>
      Effect.promise(
        () => client`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and query ilike ${`listen%${channel}%`}`
      ).pipe(Effect.map((rows) => rows[0]?.n as number)),
    (client) => Effect.promise(() => client.end())
  )
