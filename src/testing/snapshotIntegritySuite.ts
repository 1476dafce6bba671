/**
 * The integrity part of the SnapshotStore contract: a stored snapshot damaged behind the store's back (one byte of
 * its data, its checksum, its version, the task it belongs to, any other field) is refused by every read with
 * `SnapshotCorrupted`, and nothing else is lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option, type Schema } from "effect"
import type { StoreError } from "../stores/errors.ts"
import {
  canonicalJson,
  type SnapshotCorrupted,
  type SnapshotOrigin,
  type SnapshotRecord,
  SnapshotStore,
  type StoredSnapshot
} from "../stores/SnapshotStore.ts"

/**
 * Rewrites the stored snapshot at `at` with `change` of it, behind the store's back and without computing a new
 * checksum, as a damaged disk or a stray UPDATE would (raw SQL, a file edited). `change` may move it to another task
 * or version (nothing is stored there in the suite). `R` is what the store's layer also provides for it (a database).
 */
export type CorruptSnapshot<R> = (
  at: SnapshotOrigin,
  change: (stored: StoredSnapshot) => StoredSnapshot
) => Effect.Effect<void, unknown, R>

type Json = Schema.Json

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder() // not fatal: a byte that breaks UTF-8 reads as U+FFFD, as a damaged text would

/** Text every store keeps: PostgreSQL's jsonb refuses U+0000 and lone surrogates. */
const isStorable = (canonical: string): boolean => !/\\u0000|\\ud[89a-f]/i.test(canonical)

/**
 * For each byte of the canonical JSON of `json`, the first change of that byte alone (XOR 1, 2, ... 255) that still
 * parses as JSON of another value: the damage no JSON parser can see. `undefined` where every change breaks the JSON.
 */
const oneByteChanges = (json: Json): ReadonlyArray<Json | undefined> => {
  const original = canonicalJson(json)
  const bytes = utf8.encode(original)
  return Array.from(bytes, (byte, index) => {
    for (let mask = 1; mask < 256; mask++) {
      const changed = bytes.slice()
      changed[index] = byte ^ mask
      let parsed: Json
      try {
        parsed = JSON.parse(fromUtf8.decode(changed)) as Json
      } catch {
        continue
      }
      const canonical = canonicalJson(parsed)
      if (canonical !== original && isStorable(canonical)) return parsed
    }
    return undefined
  })
}

/**
 * The snapshot rich enough to damage in many ways: strings, non-ASCII text, numbers, booleans, null, nesting, keys
 * JavaScript orders apart (integer-like ones) or treats apart (`__proto__`, which only JSON.parse makes a plain key).
 */
const damaged: Json = JSON.parse(
  `{"step":12,"items":["alpha","béta",3.5,true,null],"nested":{"done":false,"count":-7,"note":"x y"},
    "__proto__":{"admin":false},"10":"ten","9":"nine"}`
)

/**
 * Checks that every read of a store (`get`, `latest`, `list`, `checkpoints`, `fork`) refuses a snapshot that `corrupt`
 * damaged with `SnapshotCorrupted` naming its task and version, and still reads the others. `snapshotStoreSuite` runs
 * it when given `corrupt`; a store whose contract suite runs elsewhere can run it alone.
 */
export const snapshotIntegritySuite = <E, R>(
  name: string,
  layer: Layer.Layer<SnapshotStore | R, E>,
  corrupt: CorruptSnapshot<R>
) =>
  describe(`SnapshotStore integrity: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, SnapshotStore | R>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    /** Saves versions 1 and 2 of `taskId` and a checkpoint at 3 holding `damaged`; returns them. */
    const history = (taskId: string) =>
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const first = yield* store.save({ taskId, data: { i: 1 }, checkpoint: false })
        const second = yield* store.save({ taskId, data: { i: 2 }, checkpoint: false, dataVersion: 1 })
        const third = yield* store.save({ taskId, data: damaged, checkpoint: true })
        return [first, second, third] as const
      })

    /** What a read ended with: `read`, `SnapshotCorrupted <task>@<version>`, or another error's tag. */
    const failure = <A>(read: Effect.Effect<A, SnapshotCorrupted | StoreError>) =>
      Effect.match(read, {
        onSuccess: () => "read",
        onFailure: (error) =>
          error._tag === "SnapshotCorrupted" ? `${error._tag} ${error.key}@${error.version}` : error._tag
      })

    /** Asserts that `at` is refused by `get` as SnapshotCorrupted, and that `others` still read as they were saved. */
    const assertRefused = (at: SnapshotOrigin, others: ReadonlyArray<SnapshotRecord>, what: string) =>
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        assert.strictEqual(
          yield* failure(store.get(at.taskId, at.version)),
          `SnapshotCorrupted ${at.taskId}@${at.version}`,
          what
        )
        for (const other of others) {
          assert.deepStrictEqual(yield* store.get(other.taskId, other.version), Option.some(other), what)
        }
      })

    /** Captures the stored form of `at`, leaving it as it is. */
    const storedAt = (at: SnapshotOrigin) =>
      Effect.gen(function* () {
        let stored: StoredSnapshot | undefined
        yield* corrupt(at, (current) => {
          stored = current
          return current
        })
        if (stored === undefined) return yield* Effect.die(new Error("corrupt did not call its change"))
        return stored
      })

    test(
      "refuses every one-byte change of a snapshot's data that is still JSON, on every read, and loses nothing else",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const [first, second, third] = yield* history("t")
        const at = { taskId: "t", version: 3 }
        const original = yield* storedAt(at)
        const changes = oneByteChanges(damaged)
        const tried = changes.filter((change) => change !== undefined)
        // every byte of its keys, strings and numbers (72 of its 149): the others only break the JSON
        assert.isAtLeast(tried.length, 72)
        for (const [index, change] of changes.entries()) {
          if (change === undefined) continue
          yield* corrupt(at, (stored) => ({ ...stored, record: { ...stored.record, data: change } }))
          const what = `byte ${index}: ${JSON.stringify(change)}`
          const refused = "SnapshotCorrupted t@3"
          assert.strictEqual(yield* failure(store.get("t", 3)), refused, what)
          assert.strictEqual(yield* failure(store.latest("t")), refused, what)
          assert.strictEqual(yield* failure(store.list("t", { limit: 10 })), refused, what)
          assert.strictEqual(yield* failure(store.checkpoints("t")), refused, what)
          assert.strictEqual(yield* failure(store.fork(at, "copy")), refused, what)
        }
        assert.isTrue(Option.isNone(yield* store.latest("copy")), "a refused fork wrote nothing")
        yield* assertRefused(at, [first, second], "the other versions")
        assert.deepStrictEqual((yield* store.list("t", { limit: 10, before: 3 })).items, [second, first])
        const next = yield* store.save({ taskId: "t", data: "after", checkpoint: false })
        assert.strictEqual(next.version, 4)

        yield* corrupt(at, () => original)
        assert.deepStrictEqual(yield* store.get("t", 3), Option.some(third), "the original reads again")
      })
    )

    test(
      "refuses a snapshot whose checksum changed in any one byte",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const [first, second, third] = yield* history("t")
        const at = { taskId: "t", version: 2 }
        const original = yield* storedAt(at)
        for (let index = 0; index < original.checksum.length; index++) {
          const checksum =
            original.checksum.slice(0, index) +
            String.fromCharCode(original.checksum.charCodeAt(index) ^ 1) +
            original.checksum.slice(index + 1)
          yield* corrupt(at, (stored) => ({ ...stored, checksum }))
          yield* assertRefused(at, [first, third], `checksum byte ${index}`)
        }
        yield* corrupt(at, () => original)
        assert.deepStrictEqual(yield* store.get("t", 2), Option.some(second))
      })
    )

    test(
      "refuses a snapshot whose version changed, and two whose versions were swapped",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const [first, , third] = yield* history("t")
        // one flipped bit: version 2 becomes 10, the newest
        yield* corrupt({ taskId: "t", version: 2 }, (stored) => ({
          ...stored,
          record: { ...stored.record, version: 10 }
        }))
        yield* assertRefused({ taskId: "t", version: 10 }, [first, third], "version 2 moved to 10")
        assert.strictEqual(yield* failure(store.latest("t")), "SnapshotCorrupted t@10")

        yield* history("u")
        yield* corrupt({ taskId: "u", version: 1 }, (stored) => ({
          ...stored,
          record: { ...stored.record, version: 9 }
        }))
        yield* corrupt({ taskId: "u", version: 2 }, (stored) => ({
          ...stored,
          record: { ...stored.record, version: 1 }
        }))
        yield* corrupt({ taskId: "u", version: 9 }, (stored) => ({
          ...stored,
          record: { ...stored.record, version: 2 }
        }))
        assert.strictEqual(yield* failure(store.get("u", 1)), "SnapshotCorrupted u@1")
        assert.strictEqual(yield* failure(store.get("u", 2)), "SnapshotCorrupted u@2")
        assert.deepStrictEqual(
          Option.map(yield* store.latest("u"), (s) => s.data),
          Option.some(damaged)
        )
        assert.deepStrictEqual(yield* store.get("t", 3), Option.some(third))
      })
    )

    test(
      "refuses a snapshot moved to another task",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const [first, , third] = yield* history("a")
        const other = yield* store.save({ taskId: "b", data: "b's own", checkpoint: false })
        yield* corrupt({ taskId: "a", version: 2 }, (stored) => ({
          ...stored,
          record: { ...stored.record, taskId: "b" }
        }))
        yield* assertRefused({ taskId: "b", version: 2 }, [other, first, third], "a@2 moved to b")
        assert.strictEqual(yield* failure(store.latest("b")), "SnapshotCorrupted b@2")
        assert.deepStrictEqual((yield* store.list("a", { limit: 10 })).items, [third, first])
      })
    )

    test(
      "refuses a snapshot whose other fields changed: id, time, checkpoint flag, data version, origin",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const [first, second, third] = yield* history("t")
        const at = { taskId: "t", version: 2 }
        const original = yield* storedAt(at)
        const { dataVersion: _dataVersion, ...withoutDataVersion } = original.record
        const changes: ReadonlyArray<readonly [string, SnapshotRecord]> = [
          ["id", { ...original.record, id: crypto.randomUUID() }],
          ["createdAt", { ...original.record, createdAt: original.record.createdAt + 1 }],
          ["checkpoint", { ...original.record, checkpoint: true }],
          ["dataVersion", { ...original.record, dataVersion: 2 }],
          ["no dataVersion", withoutDataVersion],
          ["origin", { ...original.record, origin: { taskId: "elsewhere", version: 1 } }]
        ]
        for (const [what, record] of changes) {
          yield* corrupt(at, (stored) => ({ ...stored, record }))
          yield* assertRefused(at, [first, third], what)
          yield* corrupt(at, () => original)
        }
        assert.deepStrictEqual(yield* store.get("t", 2), Option.some(second))
      })
    )
  })
