/**
 * The `StateStore` on PostgreSQL (a server or PGlite). Every operation is one statement: a `put` of many keys
 * writes them all or none, and `compareAndSet` checks the version and writes in the same statement, so a
 * read-modify-write retried on `false` never loses an update, whichever process it runs in.
 */

import { Effect, Layer, Option, Schema } from "effect"
import { StoreError } from "../errors.ts"
import { type StateEntry, StateStore, type StateWrite } from "../StateStore.ts"
import { Db } from "./Db.ts"
import { attempt } from "./internal/attempt.ts"
import { and, eq, sql } from "./internal/drizzle.ts"
import { stateEntries } from "./schema.ts"

/** jsonb read as text: drizzle's decoder would read the JSON string `"123"` back as the number 123. */
const returned = {
  key: stateEntries.key,
  value: sql<string>`${stateEntries.value}::text`,
  expiresAt: stateEntries.expiresAt,
  version: stateEntries.version
}

/** A row as the drivers return it. */
const EntryRow = Schema.Struct({
  key: Schema.String,
  value: Schema.fromJsonString(Schema.Json),
  expiresAt: Schema.NullOr(Schema.Number),
  version: Schema.Number
})
const decodeRow = Schema.decodeUnknownEffect(EntryRow)

const toEntry = (operation: string) => (row: unknown) =>
  decodeRow(row).pipe(
    Effect.map((decoded): readonly [string, StateEntry] => [
      decoded.key,
      decoded.expiresAt === null
        ? { value: decoded.value, version: decoded.version }
        : { value: decoded.value, expiresAt: decoded.expiresAt, version: decoded.version }
    ]),
    Effect.mapError((cause) => new StoreError({ operation, cause }))
  )

// cast from text, so that neither driver re-encodes the JSON text it is given
const jsonb = (name: string) => sql`${sql.placeholder(name)}::text::jsonb`
const text = (name: string) => sql`${sql.placeholder(name)}::text`

/** Builds the state store over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db

  const inScope = eq(stateEntries.scope, sql.placeholder("scope"))
  const atKey = and(inScope, eq(stateEntries.key, sql.placeholder("key")))

  const getStatement = db.select(returned).from(stateEntries).where(atKey).prepare("waypoint_state_get")

  const getAllStatement = db.select(returned).from(stateEntries).where(inScope).prepare("waypoint_state_get_all")

  // One row per key of a JSON object `{ key: { value, expiresAt } }`. Rows are written in key order, so two puts
  // sharing keys lock them in the same order and cannot deadlock.
  const putStatement = db
    .insert(stateEntries)
    .select(
      sql`select ${text("scope")}, entry.key, entry.value -> 'value', (entry.value ->> 'expiresAt')::bigint, 1
        from jsonb_each(${jsonb("entries")}) as entry order by entry.key`
    )
    .onConflictDoUpdate({
      target: [stateEntries.scope, stateEntries.key],
      set: {
        value: sql`excluded.value`,
        expiresAt: sql`excluded.expires_at`,
        version: sql`${stateEntries.version} + 1`
      }
    })
    .prepare("waypoint_state_put")

  // Expected version 0: the key must be absent. ON CONFLICT waits for a concurrent insert of the key to commit,
  // then writes nothing.
  const createStatement = db
    .insert(stateEntries)
    .values({
      scope: sql.placeholder("scope"),
      key: sql.placeholder("key"),
      value: jsonb("value"),
      expiresAt: sql.placeholder("expiresAt"),
      version: 1
    })
    .onConflictDoNothing()
    .returning({ version: stateEntries.version })
    .prepare("waypoint_state_create")

  // The version check and the write are one UPDATE: a concurrent writer of the key makes this one wait, then
  // re-checks the version on the row it left, so exactly one of two writers on one version wins.
  const replaceStatement = db
    .update(stateEntries)
    .set({
      value: jsonb("value"),
      expiresAt: sql`${sql.placeholder("expiresAt")}`,
      version: sql`${stateEntries.version} + 1`
    })
    .where(and(atKey, eq(stateEntries.version, sql.placeholder("expected"))))
    .returning({ version: stateEntries.version })
    .prepare("waypoint_state_replace")

  const deleteStatement = db.delete(stateEntries).where(atKey).prepare("waypoint_state_delete")

  const clearStatement = db.delete(stateEntries).where(inScope).prepare("waypoint_state_clear")

  // Per-key operations go untraced, as the task store's do: they run per step, and a span costs about as much as a
  // PGlite round trip.
  const get = (scope: string, key: string): Effect.Effect<Option.Option<StateEntry>, StoreError> =>
    Effect.flatMap(
      attempt("get", () => getStatement.execute({ scope, key })),
      (rows) =>
        rows.length === 0 ? Effect.succeedNone : Effect.map(toEntry("get")(rows[0]), ([, entry]) => Option.some(entry))
    )

  const getAll = Effect.fn("PgStateStore.getAll")(function* (scope: string) {
    const rows = yield* attempt("getAll", () => getAllStatement.execute({ scope }))
    return new Map(yield* Effect.forEach(rows, toEntry("getAll")))
  })

  const put = (scope: string, entries: ReadonlyMap<string, StateWrite>): Effect.Effect<void, StoreError> => {
    if (entries.size === 0) return Effect.void
    const object: Record<string, StateWrite> = {}
    for (const [key, entry] of entries) object[key] = entry
    return Effect.asVoid(attempt("put", () => putStatement.execute({ scope, entries: JSON.stringify(object) })))
  }

  const compareAndSet = (
    scope: string,
    key: string,
    expected: number,
    entry: StateWrite
  ): Effect.Effect<boolean, StoreError> => {
    const params = { scope, key, value: JSON.stringify(entry.value), expiresAt: entry.expiresAt ?? null }
    return Effect.map(
      attempt("compareAndSet", () =>
        expected === 0 ? createStatement.execute(params) : replaceStatement.execute({ ...params, expected })
      ),
      (rows) => rows.length > 0
    )
  }

  const remove = (scope: string, key: string): Effect.Effect<void, StoreError> =>
    Effect.asVoid(attempt("delete", () => deleteStatement.execute({ scope, key })))

  const clear = Effect.fn("PgStateStore.clear")(function* (scope: string) {
    yield* attempt("clear", () => clearStatement.execute({ scope }))
  })

  return StateStore.of({ get, getAll, put, compareAndSet, delete: remove, clear })
})

/** The state store over the shared `Db`. */
export const layer: Layer.Layer<StateStore, never, Db> = Layer.effect(StateStore, make)
