/** Listing tasks, whole or as summaries: filters, pages and cursors. */
import { assert } from "@effect/vitest"
import { Effect, Option } from "effect"
import { TestClock } from "effect/testing"
import type { TaskRecord, TaskSummary } from "../../stores/TaskRecord.ts"
import { type TaskQuery, TaskStore } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

export const listTests = (test: SuiteTest): void => {
  test(
    "lists by status, name, session and parent, in pages",
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (let i = 0; i < 7; i++) {
        // Creation times of different digit counts (9, 99, 999...): cursors must order them as numbers.
        yield* TestClock.adjust(9 * 10 ** i)
        yield* store.create({
          id: `t${i}`,
          name: i % 2 === 0 ? "even" : "odd",
          input: i,
          sessionId: i < 4 ? "s1" : "s2",
          parentId: i === 6 ? "t0" : undefined
        })
      }
      yield* store.claim("t0", { owner: "w", expiresAt: 1 })
      const ids = (page: { readonly items: ReadonlyArray<{ readonly id: string }> }) => page.items.map((t) => t.id)
      assert.deepStrictEqual(ids(yield* store.list({ name: "odd" })), ["t1", "t3", "t5"])
      assert.deepStrictEqual(ids(yield* store.list({ sessionId: "s2" })), ["t4", "t5", "t6"])
      assert.deepStrictEqual(ids(yield* store.list({ status: "running" })), ["t0"])
      assert.deepStrictEqual(ids(yield* store.list({ parentId: "t0" })), ["t6"])
      const first = yield* store.list({ limit: 3 })
      assert.deepStrictEqual(ids(first), ["t0", "t1", "t2"])
      const second = yield* store.list({ limit: 3, cursor: first.nextCursor })
      assert.deepStrictEqual(ids(second), ["t3", "t4", "t5"])
      const third = yield* store.list({ limit: 3, cursor: second.nextCursor })
      assert.deepStrictEqual(ids(third), ["t6"])
      assert.strictEqual(third.nextCursor, undefined)
    })
  )

  test(
    "lists a parent's children whole, in pages in creation order, ties by id, and no other parent's",
    Effect.gen(function* () {
      const store = yield* TaskStore
      // created in this order; c and b in the same millisecond, so b comes first (by id)
      for (const [id, parentId, later] of [
        ["a", "p", 5],
        ["c", "p", 10],
        ["b", "p", 0],
        ["x", "q", 0],
        ["d", "p", 10_000_000]
      ] as const) {
        yield* TestClock.adjust(later)
        yield* store.create({ id, name: "child", input: { id }, parentId, childKey: id })
      }
      const pages: Array<ReadonlyArray<TaskRecord>> = []
      let cursor: string | undefined
      do {
        const page = yield* store.list({ parentId: "p", limit: 2, cursor })
        pages.push(page.items)
        cursor = page.nextCursor
      } while (cursor !== undefined)
      assert.deepStrictEqual(
        pages.map((page) => page.map((task) => [task.id, task.input, task.childKey])),
        [
          [
            ["a", { id: "a" }, "a"],
            ["b", { id: "b" }, "b"]
          ],
          [
            ["c", { id: "c" }, "c"],
            ["d", { id: "d" }, "d"]
          ]
        ]
      )
      yield* store.claim("b", { owner: "w", expiresAt: 1_000_000_000 })
      assert.deepStrictEqual(
        (yield* store.list({ parentId: "p", status: "running" })).items.map((task) => task.id),
        ["b"]
      )
    })
  )

  test(
    "reads a parent's children all at once, keyed or not, whole or as summaries, and no other parent's or grandchild",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "p", name: "parent", input: null })
      for (let i = 0; i < 1500; i++) {
        yield* store.create({
          id: `c${i}`,
          name: "child",
          input: { i },
          parentId: "p",
          // a child created without a key is a child too
          childKey: i % 500 === 0 ? undefined : `k${i}`
        })
      }
      yield* store.create({ id: "x", name: "child", input: null, parentId: "q", childKey: "k1" })
      yield* store.create({ id: "g", name: "child", input: null, parentId: "c1", childKey: "k1" })
      const claimed = yield* store.claim("c7", { owner: "w", expiresAt: 1_000_000_000 })
      const token = Option.getOrThrow(claimed).fencingToken
      yield* store.finish("c7", token, { _tag: "Completed", output: { done: 7 } })
      const children = yield* store.children("p")
      const expected = Array.from({ length: 1500 }, (_, i) => `c${i}`).sort()
      assert.deepStrictEqual(children.map((child) => child.id).sort(), expected)
      const seven = children.find((child) => child.id === "c7")
      assert.deepStrictEqual([seven?.status, seven?.input, seven?.output], ["completed", { i: 7 }, { done: 7 }])
      assert.strictEqual(children.find((child) => child.id === "c500")?.childKey, undefined)
      assert.strictEqual(children.find((child) => child.id === "c501")?.childKey, "k501")
      const summaries = yield* store.childSummaries("p")
      assert.deepStrictEqual(summaries.map((child) => child.id).sort(), expected)
      assert.isTrue(summaries.every((child) => !("input" in child) && !("output" in child) && child.parentId === "p"))
      assert.strictEqual(summaries.find((child) => child.id === "c7")?.status, "completed")
      assert.deepStrictEqual(
        (yield* store.children("c1")).map((child) => child.id),
        ["g"]
      )
      assert.deepStrictEqual(yield* store.children("none"), [])
      assert.deepStrictEqual(yield* store.childSummaries("g"), [])
    })
  )

  test(
    "fails a list with a cursor no page gave with InvalidCursor",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "t", name: "job", input: null })
      for (const cursor of ["not-a-cursor", `${"9".repeat(25)}:t`]) {
        const error = yield* Effect.flip(store.list({ cursor }))
        assert.strictEqual(error._tag, "InvalidCursor")
        const summaries = yield* Effect.flip(store.listSummaries({ cursor }))
        assert.strictEqual(summaries._tag, "InvalidCursor")
      }
    })
  )

  test(
    "lists summaries as it lists tasks, each without its input and output, with the same filters and cursors",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const lease = { owner: "w", expiresAt: 10_000 }
      const big = "x".repeat(100_000)
      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust(10)
        yield* store.create({ id: `t${i}`, name: "job", input: { big, i }, sessionId: i < 3 ? "s1" : "s2" })
      }
      const done = Option.getOrThrow(yield* store.claim("t0", lease))
      yield* store.finish("t0", done.fencingToken, { _tag: "Completed", output: { big } })
      const failed = Option.getOrThrow(yield* store.claim("t1", lease))
      yield* store.finish("t1", failed.fencingToken, { _tag: "Failed", error: { tag: "Boom", message: "kaput" } })
      const waiting = Option.getOrThrow(yield* store.claim("t2", lease))
      yield* store.finish("t2", waiting.fencingToken, {
        _tag: "Suspended",
        reason: { _tag: "WaitingForSignal", signal: "go" }
      })
      yield* store.claim("t3", lease)

      const summaryOf = ({ input: _input, output: _output, ...summary }: TaskRecord): TaskSummary => summary
      for (const query of [
        {},
        { status: "failed" },
        { sessionId: "s2" },
        { name: "other" }
      ] satisfies ReadonlyArray<TaskQuery>) {
        const summaries = yield* store.listSummaries(query)
        assert.deepStrictEqual(summaries, {
          items: (yield* store.list(query)).items.map(summaryOf),
          nextCursor: undefined
        })
        for (const item of summaries.items) {
          assert.notProperty(item, "input")
          assert.notProperty(item, "output")
        }
      }
      const [completed, withError, suspended] = (yield* store.listSummaries({ limit: 3 })).items
      assert.strictEqual(completed?.status, "completed")
      assert.deepStrictEqual(withError?.error, { tag: "Boom", message: "kaput" })
      assert.deepStrictEqual(suspended?.suspendReason, { _tag: "WaitingForSignal", signal: "go" })

      // pages, and cursors taken from either listing
      const first = yield* store.listSummaries({ limit: 4 })
      assert.deepStrictEqual(
        first.items.map((task) => task.id),
        ["t0", "t1", "t2", "t3"]
      )
      const second = yield* store.listSummaries({ limit: 4, cursor: first.nextCursor })
      assert.deepStrictEqual(
        second.items.map((task) => task.id),
        ["t4", "t5"]
      )
      assert.strictEqual(second.nextCursor, undefined)
      const fromList = yield* store.list({ limit: 4 })
      assert.deepStrictEqual(yield* store.listSummaries({ limit: 4, cursor: fromList.nextCursor }), second)
    })
  )
}
