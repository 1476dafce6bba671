import { assert, describe, it } from "@effect/vitest"
import { Response } from "effect/ai"
import { ModelUsage } from "../../../src/ai.ts"

const usage = new Response.Usage({
  inputTokens: { total: 1000, uncached: 800, cacheRead: 200, cacheWrite: undefined },
  outputTokens: { total: 100, text: 100, reasoning: undefined }
})

const prices = {
  "gpt-4.1": { inputPerMillion: 2, outputPerMillion: 8 },
  "gpt-4.1-mini": { inputPerMillion: 0.4, outputPerMillion: 1.6, cachedInputPerMillion: 0.1 }
}

describe("ModelUsage.callUsage", () => {
  it("prices uncached input, cached input and output in whole nano-dollars", () => {
    const call = ModelUsage.callUsage(usage, "openai", "gpt-4.1-mini", prices)
    assert.deepStrictEqual(call, {
      provider: "openai",
      model: "gpt-4.1-mini",
      inputTokens: 1000,
      outputTokens: 100,
      cachedTokens: 200,
      costNanos: 800 * 400 + 200 * 100 + 100 * 1600
    })
  })

  it("prices a dated model id by the longest entry it starts with, and an unknown one at 0", () => {
    assert.strictEqual(
      ModelUsage.callUsage(usage, "openai", "gpt-4.1-mini-2025-04-14", prices).costNanos,
      800 * 400 + 200 * 100 + 100 * 1600
    )
    assert.strictEqual(
      ModelUsage.callUsage(usage, "openai", "gpt-4.1-2025-04-14", prices).costNanos,
      1000 * 2000 + 100 * 8000
    )
    assert.strictEqual(ModelUsage.callUsage(usage, "openai", "o3", prices).costNanos, 0)
  })
})
