import { assert, describe, it } from "@effect/vitest"
import { cut } from "../../../src/http/internal/text.ts"
import { utf8Length } from "../../../src/stores/SnapshotStore.ts"

const utf8 = new TextEncoder()

describe("utf8Length", () => {
  it("counts the bytes TextEncoder writes, for every width and for lone surrogates", () => {
    for (const text of ["", "a", "\u00e9", "\u20ac", "\u4e2d\u6587", "\ud83d\ude00", "x\ud83dy", "\ude00", "\ud83d"]) {
      assert.strictEqual(utf8Length(text), utf8.encode(text).length, JSON.stringify(text))
    }
  })

  it("agrees with TextEncoder on 2000 strings of code units from every range", () => {
    let state = 20261206
    const next = () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      return state
    }
    const ranges = [0x80, 0x800, 0xd800, 0xdc00, 0xe000, 0x10000] // ASCII up to the end of the BMP
    for (let n = 0; n < 2000; n++) {
      const units = Array.from({ length: next() % 24 }, () => {
        const top = ranges[next() % ranges.length] ?? 0x80
        return next() % top
      })
      const text = String.fromCharCode(...units)
      assert.strictEqual(utf8Length(text), utf8.encode(text).length, JSON.stringify(text))
    }
  })
})

describe("cut", () => {
  it("keeps a short text and never ends on half of a surrogate pair", () => {
    assert.strictEqual(cut("abc", 5), "abc")
    assert.strictEqual(cut("abcdef", 3), "abc")
    assert.strictEqual(cut("ab\ud83d\ude00", 3), "ab")
  })
})
