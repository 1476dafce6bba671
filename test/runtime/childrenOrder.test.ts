import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schema } from "effect"
import { Children, MemoryStore, Runtime, task } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"
import { orderedId } from "../../src/runtime/internal/ids.ts"

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
