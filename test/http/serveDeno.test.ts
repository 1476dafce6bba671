import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Hono } from "hono"
import { serveDeno } from "../../src/http.ts"

describe("serveDeno", () => {
  it.effect("fails with ServeError outside Deno (test-deno/http.e2e.test.ts serves with it)", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(serveDeno(new Hono(), { port: 0 }))
      assert.strictEqual(error._tag, "ServeError")
      assert.include(error.message, "Deno")
    }).pipe(Effect.scoped)
  )
})
