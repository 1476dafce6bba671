/** Listing tasks: filters, pages and cursors. */
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { TaskStore } from "../../stores/TaskStore.ts"
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
    "fails a list with a cursor no page gave with InvalidCursor",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "t", name: "job", input: null })
      for (const cursor of ["not-a-cursor", `${"9".repeat(25)}:t`]) {
        const error = yield* Effect.flip(store.list({ cursor }))
        assert.strictEqual(error._tag, "InvalidCursor")
      }
    })
  )
}
