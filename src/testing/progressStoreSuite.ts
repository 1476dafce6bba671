/**
 * The ProgressStore contract, run against any store: `progressStoreSuite("memory", MemoryProgressStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { type NewLogEntry, ProgressStore } from "../stores/ProgressStore.ts"

/**
 * Yields before and after every operation, as a round trip to a database does, so that concurrent fibers really
 * interleave between one operation and the next.
 */
export const yieldingProgressStore = <E, R>(
  layer: Layer.Layer<ProgressStore, E, R>
): Layer.Layer<ProgressStore, E, R> =>
  Layer.effect(
    ProgressStore,
    Effect.map(ProgressStore, (inner) => {
      const around = <A, Err>(effect: Effect.Effect<A, Err>) =>
        Effect.yieldNow.pipe(
          Effect.andThen(effect),
          Effect.tap(() => Effect.yieldNow)
        )
      return ProgressStore.of({
        setLatest: (taskId, update) => around(inner.setLatest(taskId, update)),
        getLatest: (taskId) => around(inner.getLatest(taskId)),
        appendLogs: (taskId, entries, options) => around(inner.appendLogs(taskId, entries, options)),
        listLogs: (taskId, query) => around(inner.listLogs(taskId, query)),
        clear: (taskId) => around(inner.clear(taskId))
      })
    })
  ).pipe(Layer.provide(layer))

const lines = (from: number, to: number): Array<NewLogEntry> =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ level: "info", message: `line ${from + i}`, at: from + i }))

const messagesOf = (entries: ReadonlyArray<{ readonly message: string }>) => entries.map((entry) => entry.message)

const isAscending = (seqs: ReadonlyArray<number>) => seqs.every((seq, i) => i === 0 || seq > (seqs[i - 1] as number))

export const progressStoreSuite = <E>(name: string, layer: Layer.Layer<ProgressStore, E>) =>
  describe(`ProgressStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, ProgressStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(yieldingProgressStore(layer))) as Effect.Effect<void, unknown>)

    test(
      "creates a task's latest row, then merges each write into it",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        assert.isTrue(Option.isNone(yield* store.getLatest("t1")))
        yield* store.setLatest("t1", { status: "starting", updatedAt: 10 })
        assert.deepStrictEqual(
          yield* store.getLatest("t1"),
          Option.some({ taskId: "t1", status: "starting", updatedAt: 10 })
        )
        yield* store.setLatest("t1", { percent: 12.5, message: "reading", updatedAt: 20 })
        assert.deepStrictEqual(
          yield* store.getLatest("t1"),
          Option.some({ taskId: "t1", percent: 12.5, message: "reading", status: "starting", updatedAt: 20 })
        )
        yield* store.setLatest("t1", { percent: 0, message: "", status: "again", updatedAt: 30 })
        assert.deepStrictEqual(
          yield* store.getLatest("t1"),
          Option.some({ taskId: "t1", percent: 0, message: "", status: "again", updatedAt: 30 }),
          "0 and the empty string are values, not absences"
        )
        yield* store.setLatest("t2", { percent: 100, updatedAt: 40 })
        assert.deepStrictEqual(yield* store.getLatest("t2"), Option.some({ taskId: "t2", percent: 100, updatedAt: 40 }))
        assert.strictEqual(Option.getOrThrow(yield* store.getLatest("t1")).status, "again")
      })
    )

    test(
      "appends lines in order with growing sequence numbers, and keeps their level, data and time",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs(
          "t1",
          [
            { level: "debug", message: "first", at: 1 },
            { level: "warning", message: "second", data: { rows: [1, 2], ok: true, note: null }, at: 2 }
          ],
          { keepLast: 100 }
        )
        yield* store.appendLogs("t1", [{ level: "error", message: "third", data: "text", at: 3 }], { keepLast: 100 })
        yield* store.appendLogs("t2", [{ level: "info", message: "other", at: 4 }], { keepLast: 100 })
        const stored = yield* store.listLogs("t1", { limit: 100 })
        assert.isTrue(isAscending(stored.map((entry) => entry.seq)))
        assert.deepStrictEqual(
          stored.map(({ seq: _, ...entry }) => entry),
          [
            { level: "debug", message: "first", at: 1 },
            { level: "warning", message: "second", data: { rows: [1, 2], ok: true, note: null }, at: 2 },
            { level: "error", message: "third", data: "text", at: 3 }
          ]
        )
        assert.deepStrictEqual(messagesOf(yield* store.listLogs("t2", { limit: 100 })), ["other"])
        assert.deepStrictEqual(yield* store.listLogs("nobody", { limit: 100 }), [])
      })
    )

    test(
      "does not change a stored line when the caller mutates the data it appended",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        const data = { count: 1 }
        yield* store.appendLogs("t1", [{ level: "info", message: "m", data, at: 0 }], { keepLast: 10 })
        data.count = 2
        const [entry] = yield* store.listLogs("t1", { limit: 10 })
        assert.deepStrictEqual(entry?.data, { count: 1 })
      })
    )

    test(
      "lists lines oldest first, page by page after a sequence number",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs("paged", lines(1, 25), { keepLast: 100 })
        const first = yield* store.listLogs("paged", { limit: 10 })
        assert.deepStrictEqual(
          messagesOf(first),
          lines(1, 10).map((line) => line.message)
        )
        const second = yield* store.listLogs("paged", { limit: 10, afterSeq: first.at(-1)?.seq })
        assert.deepStrictEqual(
          messagesOf(second),
          lines(11, 20).map((line) => line.message)
        )
        const third = yield* store.listLogs("paged", { limit: 10, afterSeq: second.at(-1)?.seq })
        assert.deepStrictEqual(
          messagesOf(third),
          lines(21, 25).map((line) => line.message)
        )
        assert.deepStrictEqual(yield* store.listLogs("paged", { limit: 10, afterSeq: third.at(-1)?.seq }), [])
        assert.deepStrictEqual(yield* store.listLogs("paged", { limit: 0 }), [])
      })
    )

    test(
      "keeps only a task's newest keepLast lines, dropping the oldest in the append itself",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs("t1", lines(1, 4), { keepLast: 5 })
        yield* store.appendLogs("t1", lines(5, 7), { keepLast: 5 })
        assert.deepStrictEqual(messagesOf(yield* store.listLogs("t1", { limit: 100 })), [
          "line 3",
          "line 4",
          "line 5",
          "line 6",
          "line 7"
        ])
        // A batch longer than keepLast leaves only its own newest lines.
        yield* store.appendLogs("t1", lines(8, 20), { keepLast: 5 })
        assert.deepStrictEqual(messagesOf(yield* store.listLogs("t1", { limit: 100 })), [
          "line 16",
          "line 17",
          "line 18",
          "line 19",
          "line 20"
        ])
        yield* store.appendLogs("t2", lines(1, 3), { keepLast: 5 })
        yield* store.appendLogs("t1", lines(21, 21), { keepLast: 2 })
        assert.deepStrictEqual(messagesOf(yield* store.listLogs("t1", { limit: 100 })), ["line 20", "line 21"])
        assert.strictEqual((yield* store.listLogs("t2", { limit: 100 })).length, 3, "another task keeps its lines")
        yield* store.appendLogs("t2", lines(4, 4), { keepLast: 0 })
        assert.deepStrictEqual(yield* store.listLogs("t2", { limit: 100 }), [], "keepLast 0 keeps none")
      })
    )

    test(
      "appends nothing for an empty batch",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.appendLogs("t1", lines(1, 3), { keepLast: 10 })
        yield* store.appendLogs("t1", [], { keepLast: 1 })
        yield* store.appendLogs("t2", [], { keepLast: 10 })
        assert.strictEqual((yield* store.listLogs("t1", { limit: 10 })).length, 3)
        assert.deepStrictEqual(yield* store.listLogs("t2", { limit: 10 }), [])
      })
    )

    test(
      "keeps every line of 20 concurrent batches, each batch in its order",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* Effect.all(
          Array.from({ length: 20 }, (_, batch) =>
            store.appendLogs(
              "busy",
              Array.from({ length: 5 }, (_, i) => ({ level: "info" as const, message: `${batch}.${i}`, at: i })),
              { keepLast: 1000 }
            )
          ),
          { concurrency: "unbounded" }
        )
        const stored = yield* store.listLogs("busy", { limit: 1000 })
        assert.strictEqual(stored.length, 100)
        assert.strictEqual(new Set(stored.map((entry) => entry.seq)).size, 100)
        assert.isTrue(isAscending(stored.map((entry) => entry.seq)))
        for (let batch = 0; batch < 20; batch++) {
          const own = stored.filter((entry) => entry.message.startsWith(`${batch}.`)).map((entry) => entry.message)
          assert.deepStrictEqual(
            own,
            [0, 1, 2, 3, 4].map((i) => `${batch}.${i}`)
          )
        }
        // Concurrent appends may each trim against what they saw; the next append alone trims exactly.
        yield* Effect.all(
          Array.from({ length: 10 }, (_, batch) =>
            store.appendLogs("busy", lines(batch * 3, batch * 3 + 2), { keepLast: 7 })
          ),
          { concurrency: "unbounded" }
        )
        yield* store.appendLogs("busy", lines(100, 101), { keepLast: 7 })
        const trimmed = yield* store.listLogs("busy", { limit: 1000 })
        assert.strictEqual(trimmed.length, 7)
        assert.deepStrictEqual(messagesOf(trimmed).slice(-2), ["line 100", "line 101"])
      })
    )

    test(
      "clears a task's row and lines, and never reuses a sequence number after",
      Effect.gen(function* () {
        const store = yield* ProgressStore
        yield* store.setLatest("t1", { percent: 50, updatedAt: 1 })
        yield* store.appendLogs("t1", lines(1, 3), { keepLast: 10 })
        yield* store.setLatest("t2", { status: "kept", updatedAt: 2 })
        yield* store.appendLogs("t2", lines(1, 2), { keepLast: 10 })
        const before = yield* store.listLogs("t1", { limit: 10 })
        yield* store.clear("t1")
        assert.isTrue(Option.isNone(yield* store.getLatest("t1")))
        assert.deepStrictEqual(yield* store.listLogs("t1", { limit: 10 }), [])
        assert.isTrue(Option.isSome(yield* store.getLatest("t2")))
        assert.strictEqual((yield* store.listLogs("t2", { limit: 10 })).length, 2)
        yield* store.clear("nobody")

        yield* store.appendLogs("t1", lines(4, 4), { keepLast: 10 })
        const [after] = yield* store.listLogs("t1", { limit: 10 })
        assert.isTrue((after?.seq ?? 0) > (before.at(-1)?.seq ?? Number.POSITIVE_INFINITY))
        const resumed = yield* store.listLogs("t1", { limit: 10, afterSeq: before.at(-1)?.seq })
        assert.deepStrictEqual(
          messagesOf(resumed),
          ["line 4"],
          "a reader resuming after its last seq sees the new line"
        )
      })
    )
  })
