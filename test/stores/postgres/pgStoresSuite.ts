/**
 * What the PostgreSQL snapshot, progress and storage stores guarantee beyond their conformance suites, run on both
 * drivers: JSON kept exactly, driver errors surfacing as `StoreError` with nothing written, and key prefixes taken
 * literally. The layer must start each test from an empty, migrated database.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { ProgressStore } from "../../../src/stores/ProgressStore.ts"
import { SnapshotStore } from "../../../src/stores/SnapshotStore.ts"
import { StorageBackend } from "../../../src/stores/StorageBackend.ts"

type Stores = SnapshotStore | ProgressStore | StorageBackend

// PostgreSQL's jsonb and text refuse the character U+0000, so a value holding it makes the driver fail.
const unstorable = "nul \u0000 inside"

export const pgStoresSuite = <E>(name: string, layer: Layer.Layer<Stores, E>) =>
  describe(`PgSnapshotStore, PgProgressStore and PgStorageBackend: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, Stores>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "reads back every snapshot's JSON exactly, including strings that look like JSON and null",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const values = ["123", "null", '{"a":1}', "", null, 0, -1.5, true, [], {}, { nested: [1, { b: "ü😀" }] }]
        for (const data of values) yield* store.save({ taskId: "json", data, checkpoint: false, dataVersion: 2 })
        const page = yield* store.list("json", { limit: 100 })
        assert.deepStrictEqual(
          page.items.map((snapshot) => snapshot.data),
          [...values].reverse()
        )
        assert.isTrue(page.items.every((snapshot) => snapshot.dataVersion === 2 && !("origin" in snapshot)))
      })
    )

    test(
      "fails a save the database refuses with StoreError, and the next save still takes version 1",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const error = yield* Effect.flip(store.save({ taskId: "t1", data: { text: unstorable }, checkpoint: false }))
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "save"])
        assert.isTrue(Option.isNone(yield* store.latest("t1")))
        assert.strictEqual((yield* store.save({ taskId: "t1", data: 1, checkpoint: false })).version, 1)
      })
    )

    test(
      "finds no snapshot at a version no integer column can hold, and forks none from it",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* store.save({ taskId: "t1", data: 1, checkpoint: false })
        assert.isTrue(Option.isNone(yield* store.get("t1", 1.5)))
        assert.isTrue(Option.isNone(yield* store.get("t1", 2 ** 40)))
        assert.deepStrictEqual(yield* store.fork({ taskId: "t1", version: 0.5 }, "copy"), { _tag: "SourceMissing" })
        const page = yield* store.list("t1", { limit: 10, before: 1.5 })
        assert.deepStrictEqual(
          page.items.map((snapshot) => snapshot.version),
          [1]
        )
      })
    )

    test(
      "keeps a log line's JSON null apart from a line without data",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs(
          "t1",
          [
            { level: "info", message: "null data", data: null, at: 1 },
            { level: "info", message: "no data", at: 2 },
            { level: "info", message: "text", data: "null", at: 3 }
          ],
          { keepLast: 10 }
        )
        const stored = yield* store.listLogs("t1", { limit: 10 })
        assert.deepStrictEqual(
          stored.map(({ seq: _, ...entry }) => entry),
          [
            { level: "info", message: "null data", data: null, at: 1 },
            { level: "info", message: "no data", at: 2 },
            { level: "info", message: "text", data: "null", at: 3 }
          ]
        )
      })
    )

    test(
      "fails an append the database refuses with StoreError, appending and trimming nothing",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs("t1", [{ level: "info", message: "kept", at: 1 }], { keepLast: 10 })
        const error = yield* Effect.flip(
          store.appendLogs("t1", [{ level: "info", message: unstorable, at: 2 }], { keepLast: 1 })
        )
        assert.deepStrictEqual([error._tag, error.operation], ["StoreError", "appendLogs"])
        const latest = yield* Effect.flip(store.setLatest("t1", { status: unstorable, updatedAt: 3 }))
        assert.strictEqual(latest.operation, "setLatest")
        assert.deepStrictEqual(
          (yield* store.listLogs("t1", { limit: 10 })).map((entry) => entry.message),
          ["kept"]
        )
        assert.isTrue(Option.isNone(yield* store.getLatest("t1")))
      })
    )

    test(
      "takes a key prefix literally, '%' and '_' included",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        for (const key of ["a_b", "axb", "a%c", "abc", "a%", "a", "b"]) yield* backend.save(key, key)
        assert.deepStrictEqual(yield* backend.listKeys("a_"), ["a_b"])
        assert.deepStrictEqual(yield* backend.listKeys("a%"), ["a%", "a%c"])
        assert.deepStrictEqual(yield* backend.listKeys("a"), ["a", "a%", "a%c", "a_b", "abc", "axb"])
        assert.deepStrictEqual(yield* backend.listKeys("nul\u0000"), [])
      })
    )

    test(
      "lists keys by code point, whatever the database's collation, prefixes at the top of the range included",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        const keys = [
          "b",
          "B",
          "é",
          "e",
          "E",
          "z",
          "\u{10ffff}",
          "\u{10ffff}x",
          "\u{10ffff}\u{10ffff}",
          "\ud7ff",
          "\ue000"
        ]
        yield* Effect.forEach(keys, (key) => backend.save(key, "v"))
        const byCodePoint = [...keys].sort((x, y) => {
          const [a, b] = [Array.from(x), Array.from(y)]
          for (let i = 0; i < Math.min(a.length, b.length); i++) {
            const d = (a[i]?.codePointAt(0) ?? 0) - (b[i]?.codePointAt(0) ?? 0)
            if (d !== 0) return d
          }
          return a.length - b.length
        })
        assert.deepStrictEqual(yield* backend.listKeys(""), byCodePoint)
        assert.deepStrictEqual(yield* backend.listKeys("\u{10ffff}"), [
          "\u{10ffff}",
          "\u{10ffff}x",
          "\u{10ffff}\u{10ffff}"
        ])
        assert.deepStrictEqual(yield* backend.listKeys("\ud7ff"), ["\ud7ff"])
      })
    )
  })
