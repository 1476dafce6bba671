/**
 * A `StorageBackend` in this process's memory: a map from key to bytes, gone with the process. Values are copied
 * in and out, so a caller that keeps changing its buffer never changes what was stored.
 */
import { Effect, Layer, Option } from "effect"
import { StorageBackend, validateKey } from "../StorageBackend.ts"
import { closable } from "./closable.ts"

const encoder = new TextEncoder()

/** Builds an empty in-memory storage backend. */
export const make = Effect.sync(() => {
  const values = new Map<string, Uint8Array>()

  const save = (key: string, value: Uint8Array | string) =>
    Effect.map(validateKey(key), () => {
      values.set(key, typeof value === "string" ? encoder.encode(value) : value.slice())
    })

  const load = (key: string) =>
    Effect.map(validateKey(key), () => Option.map(Option.fromUndefinedOr(values.get(key)), (bytes) => bytes.slice()))

  const remove = (key: string) => Effect.map(validateKey(key), () => values.delete(key))

  const listKeys = (prefix: string) =>
    Effect.sync(() =>
      Array.from(values.keys())
        .filter((key) => key.startsWith(prefix))
        .sort()
    )

  const exists = (key: string) => Effect.map(validateKey(key), () => values.has(key))

  return StorageBackend.of({ save, load, delete: remove, listKeys, exists })
})

/** A fresh, empty in-memory backend for each build of the layer. */
export const layer: Layer.Layer<StorageBackend> = Layer.effect(StorageBackend, Effect.flatMap(make, closable))
