/** `waypoint snapshots diff`'s comparison of two JSON values, change by change at JSON Pointer paths. */
import { assert, describe, it } from "@effect/vitest"
import { diff, formatChange } from "../../src/cli/internal/jsonDiff.ts"

describe("jsonDiff", () => {
  it("finds nothing between equal values", () => {
    assert.deepStrictEqual(diff({ a: [1, { b: null }], c: "x" }, { c: "x", a: [1, { b: null }] }), [])
  })

  it("compares arrays index by index, and escapes ~ and / in keys (RFC 6901)", () => {
    const changes = diff({ "a/b": [1, 2, 3], "t~": 1 }, { "a/b": [1, 5], "t~": 2 })
    assert.deepStrictEqual(changes, [
      { op: "changed", path: "/a~1b/1", from: 2, to: 5 },
      { op: "removed", path: "/a~1b/2", from: 3 },
      { op: "changed", path: "/t~0", from: 1, to: 2 }
    ])
    assert.deepStrictEqual(changes.map(formatChange), ["~ /a~1b/1 2 -> 5", "- /a~1b/2 3", "~ /t~0 1 -> 2"])
  })

  it("replaces a value whose kind changed whole, at the root too", () => {
    assert.deepStrictEqual(diff({ a: { b: 1 } }, { a: [1] }), [{ op: "changed", path: "/a", from: { b: 1 }, to: [1] }])
    assert.deepStrictEqual(diff(1, "1").map(formatChange), ['~ / 1 -> "1"'])
  })
})
