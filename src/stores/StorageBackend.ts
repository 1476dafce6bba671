/**
 * The contract of the byte store under the `StateManager`: whole values by key, each `save` replacing the value
 * at once (a reader sees the old value or the new one, never a mix). Keys are checked by every backend, so no
 * key can reach outside the backend's own space.
 */
import { Context, Effect, type Option, Schema } from "effect"
import type { StoreError } from "./errors.ts"

/** A key was refused before anything was read or written: it is empty, or could escape the backend's folder. */
export class InvalidKey extends Schema.TaggedError<InvalidKey>()("InvalidKey", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `invalid key ${JSON.stringify(this.key)}: ${this.reason}`
  }
}

/** The longest key a backend must accept, in characters. */
export const maxKeyLength = 200

/**
 * Why `key` is not a valid storage key, or `undefined` when it is. A key is one or more non-empty segments joined
 * by `/`; no segment is `.` or `..`, and no key holds a `\`, a NUL or another control character.
 */
export const keyProblem = (key: string): string | undefined => {
  if (key.length === 0) return "it is empty"
  if (key.length > maxKeyLength) return `it is longer than ${maxKeyLength} characters`
  if (key.includes("\\")) return "it contains a backslash"
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f]/.test(key)) return "it contains a NUL or another control character"
  for (const segment of key.split("/")) {
    if (segment.length === 0) return "it has an empty segment (a leading, trailing or double '/')"
    if (segment === "." || segment === "..") return `it has a '${segment}' segment`
  }
  return undefined
}

/**
 * Why `part` cannot be one segment of a key (an id or a name given by a user), or `undefined` when it can: the
 * rules of `keyProblem`, and no `/`.
 */
export const segmentProblem = (part: string): string | undefined =>
  part.includes("/") ? "it contains a '/'" : keyProblem(part)

/** Succeeds with `key` when it is a valid storage key; backends call it before touching anything. */
export const validateKey = (key: string): Effect.Effect<string, InvalidKey> => {
  const reason = keyProblem(key)
  return reason === undefined ? Effect.succeed(key) : Effect.fail(new InvalidKey({ key, reason }))
}

export class StorageBackend extends Context.Service<
  StorageBackend,
  {
    /** Stores `value` (a string is stored as UTF-8) under `key`, replacing what was there, atomically. */
    readonly save: (key: string, value: Uint8Array | string) => Effect.Effect<void, InvalidKey | StoreError>
    readonly load: (key: string) => Effect.Effect<Option.Option<Uint8Array>, InvalidKey | StoreError>
    /** Removes the value under `key`; `false` when there was none. */
    readonly delete: (key: string) => Effect.Effect<boolean, InvalidKey | StoreError>
    /** Every stored key that starts with `prefix`, sorted. */
    readonly listKeys: (prefix: string) => Effect.Effect<ReadonlyArray<string>, StoreError>
    readonly exists: (key: string) => Effect.Effect<boolean, InvalidKey | StoreError>
  }
>()("waypoint/stores/StorageBackend") {}
