/**
 * SHA-256 checksums of `StateManager` records over a canonical JSON encoding (object keys sorted, no whitespace), so
 * the same value has the same checksum whatever order its keys were written in; the same encoding and hash as task
 * snapshots' (`SnapshotStore.ts`).
 */
import type { Effect, Schema } from "effect"
import { canonicalJson, sha256Hex } from "../../../stores/SnapshotStore.ts"

/** The checksum of a record: the SHA-256 of its canonical JSON without its own `checksum` field. */
export const checksumOf = (record: Schema.JsonObject): Effect.Effect<string> => {
  const { checksum: _checksum, ...content } = record
  return sha256Hex(canonicalJson(content))
}
