import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeApp } from "../../src/http.ts"
import { MemoryTaskStore, Runtime } from "../../src/index.ts"
import { greet, request } from "./fixtures.ts"

const build = (bearer: string) =>
  Effect.flatMap(Runtime.make(), (runtime) => makeApp({ runtime, tasks: [greet], auth: { bearer } }))

/** A seeded generator of RFC 6750 b64tokens, so that a token the parser misreads can be reproduced. */
const b64tokens = (count: number, seed: number): Array<string> => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
  let state = seed
  const next = (n: number) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0
    return state % n
  }
  return Array.from({ length: count }, () => {
    const body = Array.from({ length: 16 + next(200) }, () => alphabet[next(alphabet.length)]).join("")
    return body + "=".repeat(next(3))
  })
}

describe("bearer auth", () => {
  it.effect("refuses, when the app is built, a token no client can send, without repeating it", () =>
    Effect.gen(function* () {
      const refused: ReadonlyArray<readonly [string, string]> = [
        ["a long random token", "character 2 is U+0020"], // the README's old example: every request was 401
        ["", "empty"],
        ["s3cret", "6 characters long"],
        ["tab\tseparated-token-value", "character 4 is U+0009"],
        ["token-from-a-file-with-newline\n", "character 31 is U+000A"],
        ["caf\u00e9-caf\u00e9-caf\u00e9-caf\u00e9", "character 4 is U+00E9"],
        ['quoted-"token"-value-xyz', 'character 8 is """ (U+0022)'],
        ["padding=in-the-middle-of-it", 'character 8 is "="'],
        ["x".repeat(4097), "4097 characters long"]
      ]
      for (const [token, reason] of refused) {
        const error = yield* Effect.flip(build(token))
        assert.strictEqual(error._tag, "InvalidBearerToken")
        assert.include(error.reason, reason, JSON.stringify(token))
        assert.include(error.message, "RFC 6750")
        if (token.length > 0) assert.notInclude(error.message, token)
      }
      const unset = yield* Effect.flip(build(undefined as unknown as string))
      assert.include(unset.reason, "undefined")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("accepts every b64token, and a request carrying it authenticates while another is refused", () =>
    Effect.gen(function* () {
      const tokens = [crypto.randomUUID(), "x".repeat(16), "x".repeat(4096), ...b64tokens(100, 20261124)]
      for (const token of tokens) {
        const app = yield* build(token)
        const right = yield* request(app, "/tasks", { headers: { authorization: `Bearer ${token}` } })
        assert.strictEqual(right.status, 200, token)
        const wrong = yield* request(app, "/tasks", { headers: { authorization: `Bearer ${token}x` } })
        assert.strictEqual(wrong.status, 401, token)
        yield* Effect.promise(() => Promise.all([right.arrayBuffer(), wrong.arrayBuffer()]))
      }
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
