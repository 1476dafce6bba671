import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as PayloadCodec from "../../../src/plugins/snapshots/PayloadCodec.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const payload = encoder.encode(JSON.stringify({ text: "waypoint ".repeat(500), n: [1, 2, 3] }))

const randomKey = Effect.suspend(() => PayloadCodec.importAesKey(crypto.getRandomValues(new Uint8Array(32))))

describe("PayloadCodec", () => {
  it.effect("round-trips through gzip, AES-GCM and both composed", () =>
    Effect.gen(function* () {
      const key = yield* randomKey
      for (const codec of [
        PayloadCodec.gzip,
        PayloadCodec.aesGcm(key),
        PayloadCodec.compose(PayloadCodec.gzip, PayloadCodec.aesGcm(key))
      ]) {
        const sealed = yield* PayloadCodec.seal(codec, payload)
        assert.notDeepEqual(Array.from(sealed.subarray(0, 20)), Array.from(payload.subarray(0, 20)))
        const opened = yield* PayloadCodec.open(codec, sealed, "k")
        assert.strictEqual(decoder.decode(opened), decoder.decode(payload), codec.names.join("+"))
      }
    })
  )

  it.effect("compresses first when gzip is composed before encryption", () =>
    Effect.gen(function* () {
      const key = yield* randomKey
      const both = PayloadCodec.compose(PayloadCodec.gzip, PayloadCodec.aesGcm(key))
      assert.deepStrictEqual(both.names, ["gzip", "aes-gcm"])
      const sealed = yield* PayloadCodec.seal(both, payload)
      assert.isBelow(sealed.byteLength, payload.byteLength / 5, "encrypted data does not compress, so gzip ran first")
    })
  )

  it.effect("leaves a payload without codecs unchanged", () =>
    Effect.gen(function* () {
      assert.strictEqual(yield* PayloadCodec.seal(undefined, payload), payload)
      assert.strictEqual(yield* PayloadCodec.open(undefined, payload, "k"), payload)
    })
  )

  it.effect("fails with CodecMismatch when the reader's codecs are not the writer's", () =>
    Effect.gen(function* () {
      const key = yield* randomKey
      const zipped = yield* PayloadCodec.seal(PayloadCodec.gzip, payload)
      const noCodec = yield* Effect.flip(PayloadCodec.open(undefined, zipped, "k1"))
      assert.deepInclude(noCodec, { _tag: "CodecMismatch", key: "k1", expected: "none", found: "gzip" })
      const plainRead = yield* Effect.flip(PayloadCodec.open(PayloadCodec.gzip, payload, "k2"))
      assert.deepInclude(plainRead, { _tag: "CodecMismatch", expected: "gzip", found: "none" })
      const both = yield* PayloadCodec.seal(PayloadCodec.compose(PayloadCodec.gzip, PayloadCodec.aesGcm(key)), payload)
      const partial = yield* Effect.flip(PayloadCodec.open(PayloadCodec.aesGcm(key), both, "k3"))
      assert.deepInclude(partial, { _tag: "CodecMismatch", expected: "aes-gcm", found: "gzip+aes-gcm" })
    })
  )

  it.effect("fails with DecryptionFailed under another key or after a change to the ciphertext", () =>
    Effect.gen(function* () {
      const codec = PayloadCodec.aesGcm(yield* randomKey)
      const sealed = yield* PayloadCodec.seal(codec, payload)
      const wrongKey = yield* Effect.flip(PayloadCodec.open(PayloadCodec.aesGcm(yield* randomKey), sealed, "k"))
      assert.deepInclude(wrongKey, { _tag: "DecryptionFailed", key: "k" })
      const altered = sealed.slice()
      altered[altered.length - 1] = (altered[altered.length - 1] as number) ^ 0x01
      const tampered = yield* Effect.flip(PayloadCodec.open(codec, altered, "k"))
      assert.strictEqual(tampered._tag, "DecryptionFailed")
    })
  )

  it.effect("fails with SnapshotCorrupted when gzip data is damaged", () =>
    Effect.gen(function* () {
      const sealed = yield* PayloadCodec.seal(PayloadCodec.gzip, payload)
      const damaged = sealed.slice(0, sealed.byteLength - 8)
      const error = yield* Effect.flip(PayloadCodec.open(PayloadCodec.gzip, damaged, "k"))
      assert.strictEqual(error._tag, "SnapshotCorrupted")
    })
  )
})
