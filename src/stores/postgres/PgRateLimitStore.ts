/**
 * The `RateLimitStore` on PostgreSQL (a server or PGlite). A key's state is a row; each change reads it, applies the
 * one rule of `RateLimitStore.ts` and writes it back only if no other process wrote it in between (the row's
 * `version`), reading again when one did. So every process on the database shares each key's permits and minute.
 */

import { Effect, Layer, Schema } from "effect"
import { StoreError } from "../errors.ts"
import {
  backedOff,
  decide,
  emptyKeyState,
  type KeyLimits,
  type KeyState,
  type PermitAnswer,
  RateLimitStore,
  released
} from "../RateLimitStore.ts"
import { Driver } from "./Driver.ts"
import { type SQL, sql } from "./internal/drizzle.ts"
import { rateLimits } from "./schema.ts"

const typed = (name: string, type: string): SQL => sql`${sql.placeholder(name)}::${sql.raw(type)}`

const readQuery = sql`
  select state::text as state, version::text as version from ${rateLimits} where key = ${typed("key", "text")}`

const insertQuery = sql`
  insert into ${rateLimits} (key, state, version) values (${typed("key", "text")}, ${typed("state", "jsonb")}, 0)
  on conflict do nothing returning version`

const updateQuery = sql`
  update ${rateLimits} set state = ${typed("state", "jsonb")}, version = version + 1
  where key = ${typed("key", "text")} and version = ${typed("version", "bigint")} returning version`

const KeyStateJson = Schema.fromJsonString(
  Schema.Struct({
    holders: Schema.Record(Schema.String, Schema.Number),
    requests: Schema.Array(Schema.Tuple([Schema.Number, Schema.Number, Schema.String])),
    blockedUntil: Schema.optional(Schema.Number)
  })
)
const decodeState = Schema.decodeUnknownEffect(KeyStateJson)

export const make = Effect.gen(function* () {
  const driver = yield* Driver
  const readStatement = driver.prepare("readRateLimit", readQuery)
  const insertStatement = driver.prepare("insertRateLimit", insertQuery)
  const updateStatement = driver.prepare("updateRateLimit", updateQuery)

  /** Applies `f` to the key's state, again on the newer state whenever another process wrote it first. */
  const change = <A>(operation: string, key: string, f: (state: KeyState) => readonly [A, KeyState]) =>
    Effect.gen(function* () {
      while (true) {
        const rows = yield* readStatement({ key })
        const row = rows[0]
        const state =
          row === undefined
            ? emptyKeyState
            : yield* Effect.mapError(decodeState(row.state), (cause) => new StoreError({ operation, cause }))
        const [answer, next] = f(state)
        const written =
          row === undefined
            ? yield* insertStatement({ key, state: JSON.stringify(next) })
            : yield* updateStatement({ key, state: JSON.stringify(next), version: Number(row.version) })
        if (written.length > 0) return answer
      }
    })

  const acquire = (key: string, limits: KeyLimits, holder: string, now: number, leaseMillis: number) =>
    change<PermitAnswer>("acquirePermit", key, (state) => decide(state, limits, holder, now, leaseMillis))

  const release = (key: string, holder: string, tokens: number) =>
    change("releasePermit", key, (state) => [undefined, released(state, holder, tokens)] as const)

  const backOff = (key: string, until: number) =>
    change("backOff", key, (state) => [undefined, backedOff(state, until)] as const)

  const read = (key: string) =>
    Effect.flatMap(readStatement({ key }), (rows) =>
      rows[0] === undefined
        ? Effect.succeed(emptyKeyState)
        : Effect.mapError(decodeState(rows[0].state), (cause) => new StoreError({ operation: "readPermits", cause }))
    )

  return RateLimitStore.of({ acquire, release, backOff, read })
})

export const layer: Layer.Layer<RateLimitStore, never, Driver> = Layer.effect(RateLimitStore, make)
