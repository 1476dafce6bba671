/**
 * The StorageBackend contract, run against any backend: `storageBackendSuite("memory", MemoryStorageBackend.layer)`.
 * Each test gets a fresh layer, so backends must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { StorageBackend } from "../stores/StorageBackend.ts"

const text = new TextDecoder()

/** Keys that would reach outside a backend's folder, or that no file system can name. */
export const escapingKeys: ReadonlyArray<string> = [
  "",
  ".",
  "..",
  "../outside",
  "a/../../outside",
  "a/./b",
  "/absolute",
  "trailing/",
  "a//b",
  "back\\slash",
  "..\\outside",
  "nul\u0000byte",
  "new\nline"
]

export const storageBackendSuite = <E>(name: string, layer: Layer.Layer<StorageBackend, E>) =>
  describe(`StorageBackend conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, StorageBackend>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "stores strings as UTF-8 and bytes as they are",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        yield* backend.save("greeting", "héllo, wörld ✓")
        const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
        yield* backend.save("bytes", bytes)
        yield* backend.save("empty", new Uint8Array(0))
        const greeting = yield* backend.load("greeting")
        assert.strictEqual(text.decode(Option.getOrThrow(greeting)), "héllo, wörld ✓")
        assert.deepStrictEqual(Array.from(Option.getOrThrow(yield* backend.load("bytes"))), Array.from(bytes))
        assert.strictEqual(Option.getOrThrow(yield* backend.load("empty")).byteLength, 0)
        assert.isTrue(Option.isNone(yield* backend.load("missing")))
      })
    )

    test(
      "replaces a value, and keeps what was saved when the caller changes its buffer",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        const buffer = Uint8Array.from([1, 2, 3])
        yield* backend.save("k", buffer)
        buffer[0] = 9
        assert.deepStrictEqual(Array.from(Option.getOrThrow(yield* backend.load("k"))), [1, 2, 3])
        yield* backend.save("k", "second")
        assert.strictEqual(text.decode(Option.getOrThrow(yield* backend.load("k"))), "second")
      })
    )

    test(
      "tells whether a key exists, and deletes it once",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        assert.isFalse(yield* backend.exists("k"))
        yield* backend.save("k", "v")
        assert.isTrue(yield* backend.exists("k"))
        assert.isTrue(yield* backend.delete("k"))
        assert.isFalse(yield* backend.delete("k"))
        assert.isFalse(yield* backend.exists("k"))
        assert.isTrue(Option.isNone(yield* backend.load("k")))
      })
    )

    test(
      "lists the keys under a prefix, sorted",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        for (const key of ["sessions/b", "sessions/a", "checkpoints/a/x/1", "sessions/a/nested", "sessionsX"]) {
          yield* backend.save(key, key)
        }
        assert.deepStrictEqual(yield* backend.listKeys("sessions/"), ["sessions/a", "sessions/a/nested", "sessions/b"])
        assert.deepStrictEqual(yield* backend.listKeys("checkpoints/a/"), ["checkpoints/a/x/1"])
        assert.deepStrictEqual((yield* backend.listKeys("")).length, 5)
        assert.deepStrictEqual(yield* backend.listKeys("nothing/"), [])
      })
    )

    test(
      "keeps keys apart that differ only in case, escapes or characters outside ASCII",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        const keys = ["Key", "key", "KEY", "a/b", "a%2Fb", "a%2fb", "ключ", "a b", "x.y", "-_."]
        yield* Effect.forEach(keys, (key) => backend.save(key, `value of ${key}`))
        for (const key of keys) {
          assert.strictEqual(text.decode(Option.getOrThrow(yield* backend.load(key))), `value of ${key}`)
        }
        assert.deepStrictEqual(yield* backend.listKeys(""), [...keys].sort())
      })
    )

    test(
      "refuses keys that could escape its space, writing nothing",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        for (const key of escapingKeys) {
          const saved = yield* Effect.flip(backend.save(key, "x"))
          assert.strictEqual(saved._tag, "InvalidKey", JSON.stringify(key))
          if (saved._tag === "InvalidKey") assert.strictEqual(saved.key, key)
          assert.strictEqual((yield* Effect.flip(backend.load(key)))._tag, "InvalidKey")
          assert.strictEqual((yield* Effect.flip(backend.exists(key)))._tag, "InvalidKey")
          assert.strictEqual((yield* Effect.flip(backend.delete(key)))._tag, "InvalidKey")
        }
        assert.deepStrictEqual(yield* backend.listKeys(""), [])
      })
    )

    test(
      "keeps every one of 50 concurrent saves of different keys",
      Effect.gen(function* () {
        const backend = yield* StorageBackend
        yield* Effect.all(
          Array.from({ length: 50 }, (_, i) => backend.save(`many/${i}`, String(i))),
          { concurrency: "unbounded" }
        )
        const keys = yield* backend.listKeys("many/")
        assert.strictEqual(keys.length, 50)
        for (const key of keys) {
          assert.strictEqual(text.decode(Option.getOrThrow(yield* backend.load(key))), key.slice("many/".length))
        }
      })
    )
  })
