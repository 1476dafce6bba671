/**
 * The StateStore contract, run against any store: `stateStoreSuite("memory", MemoryStateStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, type Layer, Option, type Schema } from "effect"
import { type StateEntry, StateStore, type StateWrite } from "../stores/StateStore.ts"

const writes = (entries: Record<string, StateWrite>): ReadonlyMap<string, StateWrite> =>
  new Map(Object.entries(entries))

const json = (value: Schema.Json): StateWrite => ({ value })

/** An entry as a tuple, so that an implementation may leave out an absent `expiresAt` or set it `undefined`. */
const parts = (entry: StateEntry | undefined) => [entry?.value, entry?.expiresAt, entry?.version]

export const stateStoreSuite = <E>(name: string, layer: Layer.Layer<StateStore, E>) =>
  describe(`StateStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, StateStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    const entryOf = (scope: string, key: string) =>
      StateStore.use((store) => store.get(scope, key)).pipe(
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.die(new Error(`${scope}/${key} is absent`)),
            onSome: (entry: StateEntry) => Effect.succeed(entry)
          })
        )
      )

    test(
      "reads an absent key as None and an empty scope as an empty map",
      Effect.gen(function* () {
        const store = yield* StateStore
        assert.isTrue(Option.isNone(yield* store.get("task:t1", "missing")))
        assert.strictEqual((yield* store.getAll("task:t1")).size, 0)
      })
    )

    test(
      "writes a new key at version 1 and reads back its JSON value and expiry",
      Effect.gen(function* () {
        const store = yield* StateStore
        const value = { text: "héllo ✓", n: -1.5, list: [1, null, true, { deep: ["x"] }], empty: {} }
        yield* store.put("task:t1", writes({ doc: json(value), timed: { value: 7, expiresAt: 1_700_000_000_123 } }))
        const doc = yield* entryOf("task:t1", "doc")
        assert.deepStrictEqual(doc.value, value)
        assert.strictEqual(doc.version, 1)
        assert.strictEqual(doc.expiresAt, undefined)
        const timed = yield* entryOf("task:t1", "timed")
        assert.deepStrictEqual([timed.value, timed.version, timed.expiresAt], [7, 1, 1_700_000_000_123])
      })
    )

    test(
      "adds one to a key's version with every write, and only to the keys written",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ a: json(1), b: json(1) }))
        yield* store.put("task:t1", writes({ a: json(2) }))
        yield* store.put("task:t1", writes({ a: json(3), b: json(3) }))
        assert.deepStrictEqual(parts(yield* entryOf("task:t1", "a")), [3, undefined, 3])
        assert.strictEqual((yield* entryOf("task:t1", "b")).version, 2)
        assert.isTrue(yield* store.compareAndSet("task:t1", "a", 3, json(4)))
        assert.strictEqual((yield* entryOf("task:t1", "a")).version, 4)
      })
    )

    test(
      "a write replaces the expiry with the one given, or with none",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ k: { value: 1, expiresAt: 5_000 } }))
        yield* store.put("task:t1", writes({ k: json(2) }))
        assert.strictEqual((yield* entryOf("task:t1", "k")).expiresAt, undefined)
        yield* store.compareAndSet("task:t1", "k", 2, { value: 3, expiresAt: 9_000 })
        assert.strictEqual((yield* entryOf("task:t1", "k")).expiresAt, 9_000)
      })
    )

    test(
      "returns every entry of a scope from getAll, expired ones included",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ live: json("x"), old: { value: "y", expiresAt: 1 } }))
        yield* store.put("task:t1", writes({ live: json("x2") }))
        const all = yield* store.getAll("task:t1")
        assert.deepStrictEqual([...all.keys()].sort(), ["live", "old"])
        assert.deepStrictEqual(parts(all.get("live")), ["x2", undefined, 2])
        assert.deepStrictEqual(parts(all.get("old")), ["y", 1, 1])
      })
    )

    test(
      "writes the keys of one put all together: a reader never sees half of it",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ a: json(0), b: json(0) }))
        const writer = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i + 1),
            (i) => store.put("task:t1", writes({ a: json(i), b: json(i) }))
          )
        )
        for (let read = 0; read < 20; read++) {
          const all = yield* store.getAll("task:t1")
          const a = all.get("a")
          const b = all.get("b")
          assert.deepStrictEqual([a?.value, a?.version], [b?.value, b?.version])
          yield* Effect.yieldNow
        }
        yield* Fiber.join(writer)
        const all = yield* store.getAll("task:t1")
        assert.deepStrictEqual([all.get("a")?.version, all.get("b")?.version], [21, 21])
      })
    )

    test(
      "compare-and-set with expected 0 creates an absent key, and refuses a present one",
      Effect.gen(function* () {
        const store = yield* StateStore
        assert.isTrue(yield* store.compareAndSet("task:t1", "k", 0, { value: "first", expiresAt: 10 }))
        assert.deepStrictEqual(parts(yield* entryOf("task:t1", "k")), ["first", 10, 1])
        assert.isFalse(yield* store.compareAndSet("task:t1", "k", 0, json("second")))
        assert.deepStrictEqual((yield* entryOf("task:t1", "k")).value, "first")
      })
    )

    test(
      "compare-and-set writes on the current version and refuses a stale or future one",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ k: json("v1") }))
        assert.isTrue(yield* store.compareAndSet("task:t1", "k", 1, json("v2")))
        assert.isFalse(yield* store.compareAndSet("task:t1", "k", 1, json("stale")))
        assert.isFalse(yield* store.compareAndSet("task:t1", "k", 5, json("future")))
        assert.deepStrictEqual(parts(yield* entryOf("task:t1", "k")), ["v2", undefined, 2])
      })
    )

    test(
      "compare-and-set on an absent key with a version other than 0 writes nothing",
      Effect.gen(function* () {
        const store = yield* StateStore
        assert.isFalse(yield* store.compareAndSet("task:t1", "k", 1, json("x")))
        assert.isTrue(Option.isNone(yield* store.get("task:t1", "k")))
      })
    )

    test(
      "lets exactly one of many concurrent compare-and-sets on one version win",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ k: json(0) }))
        const results = yield* Effect.all(
          Array.from({ length: 10 }, (_, i) => store.compareAndSet("task:t1", "k", 1, json(i + 1))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((won) => won).length, 1)
        const entry = yield* entryOf("task:t1", "k")
        assert.strictEqual(entry.version, 2)
        assert.strictEqual(entry.value, results.indexOf(true) + 1)
      })
    )

    test(
      "deletes one key and leaves the others; deleting an absent key is not an error",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ a: json(1), b: json(2) }))
        yield* store.delete("task:t1", "a")
        yield* store.delete("task:t1", "never-written")
        yield* store.delete("task:other", "a")
        assert.isTrue(Option.isNone(yield* store.get("task:t1", "a")))
        assert.deepStrictEqual([...(yield* store.getAll("task:t1")).keys()], ["b"])
        assert.isTrue(yield* store.compareAndSet("task:t1", "a", 0, json("again")), "a deleted key is absent")
      })
    )

    test(
      "clears every key of one scope and no other scope",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ a: json(1), b: json(2) }))
        yield* store.put("session:s1", writes({ a: json("kept") }))
        yield* store.clear("task:t1")
        yield* store.clear("named:never-written")
        assert.strictEqual((yield* store.getAll("task:t1")).size, 0)
        assert.deepStrictEqual((yield* entryOf("session:s1", "a")).value, "kept")
        yield* store.put("task:t1", writes({ a: json(3) }))
        assert.strictEqual((yield* entryOf("task:t1", "a")).value, 3)
      })
    )

    test(
      "keeps scopes apart: the same key in two scopes has its own value and version",
      Effect.gen(function* () {
        const store = yield* StateStore
        yield* store.put("task:t1", writes({ k: json("task") }))
        yield* store.put("named:shared", writes({ k: json("named") }))
        yield* store.put("named:shared", writes({ k: json("named2") }))
        assert.deepStrictEqual(parts(yield* entryOf("task:t1", "k")), ["task", undefined, 1])
        assert.deepStrictEqual(parts(yield* entryOf("named:shared", "k")), ["named2", undefined, 2])
        assert.isFalse(yield* store.compareAndSet("task:t2", "k", 1, json("x")))
        assert.isTrue(Option.isNone(yield* store.get("task:t2", "k")))
        assert.deepStrictEqual([...(yield* store.getAll("named:shared")).keys()], ["k"])
      })
    )
  })
