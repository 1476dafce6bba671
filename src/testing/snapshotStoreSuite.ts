/**
 * The SnapshotStore contract, run against any store: `snapshotStoreSuite("memory", MemorySnapshotStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty. Given a way to damage a stored snapshot (`corrupt`), it
 * also checks that every read refuses a damaged snapshot with `SnapshotCorrupted`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, type Schema } from "effect"
import { TestClock } from "effect/testing"
import { SnapshotStore } from "../stores/SnapshotStore.ts"
import { type CorruptSnapshot, snapshotIntegritySuite } from "./snapshotIntegritySuite.ts"

export type { CorruptSnapshot }

/** Options of `snapshotStoreSuite`. */
export interface SnapshotStoreSuiteOptions<R> {
  /** Given, the suite also checks that every read refuses a snapshot `corrupt` damaged, and still reads the others. */
  readonly corrupt?: CorruptSnapshot<R> | undefined
}

/**
 * Yields before and after every operation, as a round trip to a database does, so that concurrent fibers really
 * interleave between one operation and the next.
 */
export const yieldingSnapshotStore = <E, R>(
  layer: Layer.Layer<SnapshotStore, E, R>
): Layer.Layer<SnapshotStore, E, R> =>
  Layer.effect(
    SnapshotStore,
    Effect.map(SnapshotStore, (inner) => {
      const around = <A, Err>(effect: Effect.Effect<A, Err>) =>
        Effect.yieldNow.pipe(
          Effect.andThen(effect),
          Effect.tap(() => Effect.yieldNow)
        )
      return SnapshotStore.of({
        save: (snapshot) => around(inner.save(snapshot)),
        latest: (taskId) => around(inner.latest(taskId)),
        get: (taskId, version) => around(inner.get(taskId, version)),
        list: (taskId, query) => around(inner.list(taskId, query)),
        listSummaries: (taskId, query) => around(inner.listSummaries(taskId, query)),
        checkpoints: (taskId) => around(inner.checkpoints(taskId)),
        prune: (taskId, options) => around(inner.prune(taskId, options)),
        fork: (from, toTaskId) => around(inner.fork(from, toTaskId))
      })
    })
  ).pipe(Layer.provide(layer))

const versionsOf = (items: ReadonlyArray<{ readonly version: number }>) => items.map((item) => item.version)

export const snapshotStoreSuite = <E, R = never>(
  name: string,
  layer: Layer.Layer<SnapshotStore | R, E>,
  options: SnapshotStoreSuiteOptions<R> = {}
) =>
  describe(`SnapshotStore conformance: ${name}`, () => {
    if (options.corrupt !== undefined) snapshotIntegritySuite(name, layer, options.corrupt)

    const test = (title: string, body: Effect.Effect<void, unknown, SnapshotStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(yieldingSnapshotStore(layer))) as Effect.Effect<void, unknown>)

    const saveMany = (taskId: string, count: number, checkpointEvery = 0) =>
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        for (let i = 1; i <= count; i++) {
          yield* store.save({ taskId, data: { i }, checkpoint: checkpointEvery > 0 && i % checkpointEvery === 0 })
        }
      })

    test(
      "numbers a task's snapshots from 1 and reads them back",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* TestClock.adjust(1234)
        const first = yield* store.save({ taskId: "t1", data: { step: 1 }, checkpoint: false })
        const second = yield* store.save({ taskId: "t1", data: [1, "two", null], checkpoint: true, dataVersion: 3 })
        const other = yield* store.save({ taskId: "t2", data: "x", checkpoint: false })
        assert.deepStrictEqual([first.version, second.version, other.version], [1, 2, 1])
        assert.notStrictEqual(first.id, second.id)
        assert.deepStrictEqual(
          { ...first, id: "" },
          { id: "", taskId: "t1", version: 1, data: { step: 1 }, checkpoint: false, createdAt: 1234 }
        )
        assert.deepStrictEqual(yield* store.get("t1", 1), Option.some(first))
        const latest = yield* store.latest("t1")
        assert.deepStrictEqual(latest, Option.some(second))
        if (Option.isSome(latest)) {
          assert.strictEqual(latest.value.dataVersion, 3)
          assert.isTrue(latest.value.checkpoint)
        }
        assert.isTrue(Option.isNone(yield* store.get("t1", 3)))
        assert.isTrue(Option.isNone(yield* store.latest("nobody")))
      })
    )

    test(
      "gives 100 concurrent saves of one task the versions 1 to 100, each once",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const saved = yield* Effect.all(
          Array.from({ length: 100 }, (_, i) =>
            // Reads between the saves, as a body that looks at its latest snapshot does.
            Effect.andThen(store.latest("busy"), store.save({ taskId: "busy", data: i, checkpoint: false }))
          ),
          { concurrency: "unbounded" }
        )
        const versions = versionsOf(saved).sort((a, b) => a - b)
        assert.deepStrictEqual(
          versions,
          Array.from({ length: 100 }, (_, i) => i + 1)
        )
        const latest = yield* store.latest("busy")
        assert.strictEqual(Option.getOrThrow(latest).version, 100)
        const page = yield* store.list("busy", { limit: 1000 })
        assert.strictEqual(new Set(page.items.map((s) => s.data)).size, 100)
      })
    )

    test(
      "reads the latest of a long history, and every version of it",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* saveMany("long", 2000)
        const latest = yield* store.latest("long")
        assert.deepStrictEqual(
          Option.map(latest, (s) => [s.version, s.data]),
          Option.some([2000, { i: 2000 }])
        )
        assert.deepStrictEqual(
          Option.map(yield* store.get("long", 1), (s) => s.data),
          Option.some({ i: 1 })
        )
        const next = yield* store.save({ taskId: "long", data: "after", checkpoint: false })
        assert.strictEqual(next.version, 2001)
      })
    )

    test(
      "lists snapshots newest first, page by page",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* saveMany("paged", 25)
        const first = yield* store.list("paged", { limit: 10 })
        assert.deepStrictEqual(versionsOf(first.items), [25, 24, 23, 22, 21, 20, 19, 18, 17, 16])
        assert.strictEqual(first.nextBefore, 16)
        const second = yield* store.list("paged", { limit: 10, before: first.nextBefore })
        assert.deepStrictEqual(versionsOf(second.items), [15, 14, 13, 12, 11, 10, 9, 8, 7, 6])
        const third = yield* store.list("paged", { limit: 10, before: second.nextBefore })
        assert.deepStrictEqual(versionsOf(third.items), [5, 4, 3, 2, 1])
        assert.strictEqual(third.nextBefore, undefined)
        const empty = yield* store.list("nobody", { limit: 10 })
        assert.deepStrictEqual(empty, { items: [], nextBefore: undefined })
      })
    )

    test(
      "lists summaries as it lists snapshots, each without its data and with the size of its UTF-8 JSON text",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const values: ReadonlyArray<Schema.Json> = [
          { step: 3 },
          { b: [1, 2.5, 1e21, -0.001], a: "é ü 😀 中", nested: { z: null, y: true } },
          "x".repeat(100_000),
          [],
          'line\nbreak "quoted" \u0001'
        ]
        for (const [i, data] of values.entries()) {
          yield* store.save({ taskId: "sized", data, checkpoint: i === 1, dataVersion: i === 2 ? 7 : undefined })
        }
        yield* store.fork({ taskId: "sized", version: 2 }, "copy")
        const utf8 = new TextEncoder()
        for (const [taskId, query] of [
          ["sized", { limit: 10 }],
          ["sized", { limit: 2, before: 4 }],
          ["copy", { limit: 10 }],
          ["nobody", { limit: 10 }]
        ] as const) {
          const page = yield* store.list(taskId, query)
          const summaries = yield* store.listSummaries(taskId, query)
          assert.deepStrictEqual(summaries, {
            items: page.items.map(({ data, ...summary }) => ({
              ...summary,
              dataSizeBytes: utf8.encode(JSON.stringify(data)).length
            })),
            nextBefore: page.nextBefore
          })
          for (const item of summaries.items) assert.notProperty(item, "data")
        }
        const copied = (yield* store.listSummaries("copy", { limit: 1 })).items[0]
        assert.deepStrictEqual(copied?.origin, { taskId: "sized", version: 2 })
        assert.strictEqual(copied?.dataSizeBytes, utf8.encode(JSON.stringify(values[1])).length)
      })
    )

    test(
      "lists checkpoints newest first",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* saveMany("cp", 10, 3)
        assert.deepStrictEqual(versionsOf(yield* store.checkpoints("cp")), [9, 6, 3])
        assert.deepStrictEqual(yield* store.checkpoints("nobody"), [])
      })
    )

    test(
      "prunes old versions, keeping the newest, the checkpoints if asked, and the numbering",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* saveMany("p", 10, 4)
        yield* saveMany("untouched", 3)
        const removed = yield* store.prune("p", { keepLast: 3, keepCheckpoints: true })
        assert.strictEqual(removed, 6)
        const left = yield* store.list("p", { limit: 100 })
        assert.deepStrictEqual(versionsOf(left.items), [10, 9, 8, 4])
        assert.isTrue(Option.isNone(yield* store.get("p", 1)))
        assert.isTrue(Option.isSome(yield* store.get("p", 4)))

        const all = yield* store.prune("p", { keepLast: 0, keepCheckpoints: false })
        assert.strictEqual(all, 3, "the latest is always kept")
        assert.deepStrictEqual(versionsOf((yield* store.list("p", { limit: 100 })).items), [10])
        assert.deepStrictEqual(versionsOf(yield* store.checkpoints("p")), [])
        const next = yield* store.save({ taskId: "p", data: null, checkpoint: false })
        assert.strictEqual(next.version, 11, "a version is never reused")
        assert.strictEqual(yield* store.prune("nobody", { keepLast: 1, keepCheckpoints: false }), 0)
        assert.strictEqual((yield* store.list("untouched", { limit: 10 })).items.length, 3)
      })
    )

    test(
      "forks a snapshot as version 1 of another task, recording its origin",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        yield* saveMany("source", 3)
        yield* TestClock.adjust(500)
        const forked = yield* store.fork({ taskId: "source", version: 2 }, "copy")
        assert.strictEqual(forked._tag, "Forked")
        if (forked._tag !== "Forked") return
        assert.deepStrictEqual(
          { ...forked.snapshot, id: "" },
          {
            id: "",
            taskId: "copy",
            version: 1,
            data: { i: 2 },
            checkpoint: false,
            createdAt: 500,
            origin: { taskId: "source", version: 2 }
          }
        )
        assert.deepStrictEqual(yield* store.latest("copy"), Option.some(forked.snapshot))
        const next = yield* store.save({ taskId: "copy", data: "more", checkpoint: false })
        assert.strictEqual(next.version, 2)

        const again = yield* store.fork({ taskId: "source", version: 1 }, "copy")
        assert.deepStrictEqual(again, { _tag: "TargetNotEmpty" })
        const missing = yield* store.fork({ taskId: "source", version: 9 }, "elsewhere")
        assert.deepStrictEqual(missing, { _tag: "SourceMissing" })
        assert.isTrue(Option.isNone(yield* store.latest("elsewhere")))
        assert.strictEqual(Option.getOrThrow(yield* store.latest("source")).version, 3)
      })
    )

    test(
      "keeps what was saved when the caller changes its value afterwards",
      Effect.gen(function* () {
        const store = yield* SnapshotStore
        const value = { items: [1, 2] }
        yield* store.save({ taskId: "m", data: value, checkpoint: false })
        value.items.push(3)
        assert.deepStrictEqual(
          Option.map(yield* store.latest("m"), (s) => s.data),
          Option.some({ items: [1, 2] })
        )
      })
    )
  })
