/** Task ids are UUIDv7 texts that sort in the order this process made them, and carry the time they were made at. */
import { assert, describe, it } from "@effect/vitest"
import { orderedId } from "../../src/runtime/internal/ids.ts"

const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("orderedId", () => {
  it("makes UUIDv7 texts in strictly increasing order, past 4 096 in one millisecond", () => {
    let previous = ""
    for (let i = 0; i < 20_000; i++) {
      const id = orderedId()
      assert.match(id, uuidV7)
      assert.isTrue(id > previous, `${id} after ${previous}`)
      previous = id
    }
  })

  it("starts with the time it was made at, in milliseconds", () => {
    const before = Date.now()
    const id = orderedId()
    const millis = Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
    // at or after the clock, and never far after it (an id borrows a millisecond only past 4 096 in one)
    assert.isAtLeast(millis, before)
    assert.isAtMost(millis, Date.now() + 10)
  })
})
