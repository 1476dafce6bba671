import { assert, describe, it } from "@effect/vitest"

describe("toolchain", () => {
  it("runs the tests on Node 22 or newer, taken from the project's own devDependencies", () => {
    const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
    assert.isTrue(major > 22 || (major === 22 && minor >= 12), `Node ${process.versions.node} is older than 22.12`)
  })
})
