/**
 * SHA-256 checksums of `StateManager` records over a canonical JSON encoding (object keys sorted, no whitespace), so
 * the same value has the same checksum whatever order its keys were written in.
 */
import type { Effect, Schema } from "effect"
import { sha256Hex } from "../../../stores/SnapshotStore.ts"

type Json = Schema.Json

/** `json` as text with every object's keys sorted by UTF-16 code units. Records stored already depend on it. */
export const canonicalJson = (json: Json): string => {
  if (json === null || typeof json !== "object") return JSON.stringify(json)
  if (Array.isArray(json)) return `[${json.map(canonicalJson).join(",")}]`
  const object = json as Schema.JsonObject
  const keys = Object.keys(object).sort()
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key] as Json)}`).join(",")}}`
}

/** The checksum of a record: the SHA-256 of its canonical JSON without its own `checksum` field. */
export const checksumOf = (record: Schema.JsonObject): Effect.Effect<string> => {
  const { checksum: _checksum, ...content } = record
  return sha256Hex(canonicalJson(content))
}
