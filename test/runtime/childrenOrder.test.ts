import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { Children, MemoryStore, Runtime, task } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"
import { orderedId } from "../../src/runtime/internal/ids.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"

describe("task ids", () => {
  it("are UUIDv7s whose text sorts in the order they were made, 10 000 in a few milliseconds", () => {
    const ids = Array.from({ length: 10_000 }, orderedId)
    assert.deepStrictEqual([...ids].sort(), ids)
    assert.strictEqual(new Set(ids).size, ids.length)
    // every one: their random bits come from a pool drawn again every 512 ids
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

/** A fan-out of one at a time: the children start in the order of their specs, on every store. */
const startOrder = Effect.gen(function* () {
  const started = yield* Ref.make<ReadonlyArray<string>>([])
  const child = task({ name: "noted", input: Schema.String, output: Schema.String }, (key) =>
    Effect.as(
      Ref.update(started, (keys) => [...keys, key]),
      key
    )
  )
  const keys = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
  const parent = task({ name: "in-turn", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
    Children.all(
      keys.map((key) => Children.spec(child, key, { key })),
      { concurrency: 1 }
    )
  )
  const runtime = yield* Runtime.make({ tasks: [parent, child] })
  assert.deepStrictEqual(yield* runtime.run(parent, undefined), keys)
  assert.deepStrictEqual(yield* Ref.get(started), keys, "started oldest first")
}).pipe(Effect.scoped)

describe("queued children", () => {
  it.live("start oldest first in memory", () => startOrder.pipe(Effect.provide(MemoryStore.layer)))
  it.live(
    "start oldest first on PGlite, created in the same millisecond",
    () => startOrder.pipe(Effect.provide(Layer.fresh(PgliteStore.layer()))),
    60_000
  )
})

describe("a bounded fan-out run again", () => {
  it.live("releases its oldest queued children first, in whatever order the store reads a parent's children", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // a store that reads a parent's children newest first, as PostgreSQL may read them in any order
      const reversing = TaskStore.of({
        ...store,
        children: (parentId) => Effect.map(store.children(parentId), (records) => [...records].reverse())
      })
      const started = yield* Ref.make<ReadonlyArray<string>>([])
      const child = task({ name: "noted", input: Schema.String, output: Schema.String }, (key) =>
        Effect.as(
          Ref.update(started, (keys) => [...keys, key]),
          key
        )
      )
      const keys = ["a", "c", "d", "e"]
      const parent = task({ name: "in-turn", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
        Children.all(
          keys.map((key) => Children.spec(child, key, { key })),
          { concurrency: 1 }
        )
      )
      // as an earlier run left it: "a" ended before its queued siblings existed, so its end released none of them
      yield* store.create({ id: "p", name: "in-turn", input: null })
      const lease = { owner: "earlier", expiresAt: Number.MAX_SAFE_INTEGER }
      const a = yield* store.create({ id: orderedId(), name: "noted", input: "a", parentId: "p", childKey: "a", lease })
      yield* store.finish(a.id, a.fencingToken, { _tag: "Completed", output: "a" })
      for (const key of ["c", "d", "e"]) {
        yield* store.create({ id: orderedId(), name: "noted", input: key, parentId: "p", childKey: key, queued: true })
      }
      const outputs = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make({ tasks: [parent, child] })
        yield* runtime.resume("p")
        return yield* runtime.handle(parent, "p").await
      }).pipe(Effect.provideService(TaskStore, reversing))
      assert.deepStrictEqual(outputs, keys)
      assert.deepStrictEqual(yield* Ref.get(started), ["c", "d", "e"], "started oldest first")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )
})
