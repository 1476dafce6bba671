/**
 * The `StorageBackend` on PostgreSQL (a server or PGlite): one row per key, its value as `bytea`. A `save` is one
 * upsert, so a reader sees the old value or the new one; keys are checked by `validateKey` before any statement.
 */

import { Effect, Layer, Option, Schema } from "effect"
import { StoreError } from "../errors.ts"
import { type InvalidKey, StorageBackend, validateKey } from "../StorageBackend.ts"
import { Db } from "./Db.ts"
import { attempt } from "./internal/attempt.ts"
import type { SelectedFields } from "./internal/drizzle.ts"
import { and, asc, eq, gte, lt, sql } from "./internal/drizzle.ts"
import { storageEntries } from "./schema.ts"

const encoder = new TextEncoder()

const ValueRow = Schema.Struct({ value: Schema.Uint8Array })
const KeyRow = Schema.Struct({ key: Schema.String })

/** A decoder of rows whose failure is a `StoreError` of `operation`; the parser is made once. */
const decodeWith = <A>(schema: Schema.Decoder<A>, operation: string) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (row: unknown): Effect.Effect<A, StoreError> =>
    Effect.mapError(decode(row), (cause) => new StoreError({ operation, cause }))
}

/**
 * The smallest string above every string that starts with `prefix`, in code point order (the keys' collation "C"
 * compares UTF-8 bytes, which is code point order); `undefined` when there is none (an empty prefix).
 */
const prefixEnd = (prefix: string): string | undefined => {
  const points = Array.from(prefix)
  while (points.length > 0) {
    const last = (points.pop() as string).codePointAt(0) as number
    if (last < 0x10ffff) {
      // the surrogates are no characters: the one after U+D7FF is U+E000
      return points.join("") + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1)
    }
  }
  return undefined
}

/** Builds the storage backend over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db

  const atKey = eq(storageEntries.key, sql.placeholder("key"))

  const saveStatement = db
    .insert(storageEntries)
    .values({ key: sql.placeholder("key"), value: sql.placeholder("value") })
    .onConflictDoUpdate({ target: storageEntries.key, set: { value: sql`excluded.value` } })
    .prepare("waypoint_storage_save")

  const selectAtKey = <C extends SelectedFields>(columns: C, name: string) =>
    db.select(columns).from(storageEntries).where(atKey).prepare(name)
  const loadStatement = selectAtKey({ value: storageEntries.value }, "waypoint_storage_load")

  const deleteStatement = db
    .delete(storageEntries)
    .where(atKey)
    .returning({ key: storageEntries.key })
    .prepare("waypoint_storage_delete")

  const existsStatement = selectAtKey({ key: storageEntries.key }, "waypoint_storage_exists")

  // A range of the primary key's index, not LIKE: a prefix holding `%` or `_` needs no escaping, and the range is an
  // index condition in a generic plan too. Keys are collated "C", so the index order is the order returned.
  const fromKey = gte(storageEntries.key, sql.placeholder("from"))
  const listFromStatement = db
    .select({ key: storageEntries.key })
    .from(storageEntries)
    .where(fromKey)
    .orderBy(asc(storageEntries.key))
    .prepare("waypoint_storage_list_from")
  const listRangeStatement = db
    .select({ key: storageEntries.key })
    .from(storageEntries)
    .where(and(fromKey, lt(storageEntries.key, sql.placeholder("to"))))
    .orderBy(asc(storageEntries.key))
    .prepare("waypoint_storage_list_range")

  const decodeValue = decodeWith(ValueRow, "load")
  const decodeKey = decodeWith(KeyRow, "listKeys")

  const save = (key: string, value: Uint8Array | string): Effect.Effect<void, InvalidKey | StoreError> =>
    Effect.flatMap(validateKey(key), () =>
      Effect.asVoid(
        attempt("save", () =>
          saveStatement.execute({ key, value: typeof value === "string" ? encoder.encode(value) : value })
        )
      )
    )

  const load = (key: string): Effect.Effect<Option.Option<Uint8Array>, InvalidKey | StoreError> =>
    validateKey(key).pipe(
      Effect.flatMap(() => attempt("load", () => loadStatement.execute({ key }))),
      Effect.flatMap((rows) =>
        rows[0] === undefined
          ? Effect.succeedNone
          : // a copy as a plain Uint8Array: postgres.js hands out a Buffer, possibly a view of a larger one
            Effect.map(decodeValue(rows[0]), (row) => Option.some(new Uint8Array(row.value)))
      )
    )

  const remove = (key: string): Effect.Effect<boolean, InvalidKey | StoreError> =>
    validateKey(key).pipe(
      Effect.flatMap(() => attempt("delete", () => deleteStatement.execute({ key }))),
      Effect.map((rows) => rows.length > 0)
    )

  const listKeys = Effect.fn("PgStorageBackend.listKeys")(function* (prefix: string) {
    // no key holds a NUL, and PostgreSQL text cannot
    if (prefix.includes("\u0000")) return []
    const to = prefixEnd(prefix)
    const rows = yield* attempt("listKeys", () =>
      to === undefined ? listFromStatement.execute({ from: prefix }) : listRangeStatement.execute({ from: prefix, to })
    )
    return yield* Effect.forEach(rows, (row) => Effect.map(decodeKey(row), ({ key }) => key))
  })

  const exists = (key: string): Effect.Effect<boolean, InvalidKey | StoreError> =>
    validateKey(key).pipe(
      Effect.flatMap(() => attempt("exists", () => existsStatement.execute({ key }))),
      Effect.map((rows) => rows.length > 0)
    )

  return StorageBackend.of({ save, load, delete: remove, listKeys, exists })
})

/** The storage backend over the shared `Db`. */
export const layer: Layer.Layer<StorageBackend, never, Db> = Layer.effect(StorageBackend, make)
