/**
 * SHA-256 checksums over a canonical JSON encoding (object keys sorted, no whitespace), so the same value has the
 * same checksum whatever order its keys were written in. Web Crypto only: runs on Node and Deno.
 */
import { Effect, type Schema } from "effect"

type Json = Schema.Json

const encoder = new TextEncoder()

/** `json` as text with every object's keys sorted by UTF-16 code units. */
export const canonicalJson = (json: Json): string => {
  if (json === null || typeof json !== "object") return JSON.stringify(json)
  if (Array.isArray(json)) return `[${json.map(canonicalJson).join(",")}]`
  const object = json as Schema.JsonObject
  const keys = Object.keys(object).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key] as Json)}`).join(",")}}`
}

/** The SHA-256 of `text` (as UTF-8), in lower-case hex. */
export const sha256Hex = (text: string): Effect.Effect<string> =>
  Effect.orDie(
    Effect.tryPromise(() =>
      crypto.subtle
        .digest("SHA-256", encoder.encode(text))
        .then((digest) => Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join(""))
    )
  )

/** The checksum of a record: the SHA-256 of its canonical JSON without its own `checksum` field. */
export const checksumOf = (record: Schema.JsonObject): Effect.Effect<string> => {
  const { checksum: _checksum, ...content } = record
  return sha256Hex(canonicalJson(content))
}
