/**
 * Turns a value into the JSON it will be stored as, or says why it cannot be: anything that would not read back
 * the same after `JSON.stringify` and `JSON.parse` is refused, so a stored value never changes silently.
 */
import { Effect, Result, type Schema } from "effect"
import { unstorableText } from "../../../stores/storable.ts"
import { SnapshotNotSerializable, SnapshotTooLarge } from "../errors.ts"

type Json = Schema.Json

const encoder = new TextEncoder()

const at = (path: string, key: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

const describe = (value: object): string => {
  const name = (Object.getPrototypeOf(value) as { readonly constructor?: { readonly name?: unknown } } | null)
    ?.constructor?.name
  return typeof name === "string" && name.length > 0 ? `an instance of ${name}` : "an instance of a class"
}

/**
 * A fresh JSON copy of `value`. Object properties whose value is `undefined` are left out, as `JSON.stringify`
 * does; everything else that JSON cannot carry is a failure naming where it is.
 */
export const toJsonResult = (value: unknown): Result.Result<Json, string> => {
  const ancestors = new Set<object>()

  const walk = (current: unknown, path: string): Result.Result<Json, string> => {
    switch (typeof current) {
      case "string": {
        // JSON, but no store can keep it (PostgreSQL's jsonb refuses U+0000 and lone surrogates)
        const unkept = unstorableText(current, path)
        return unkept === undefined ? Result.succeed(current) : Result.fail(unkept)
      }
      case "boolean":
        return Result.succeed(current)
      case "number":
        return Number.isFinite(current)
          ? Result.succeed(current)
          : Result.fail(`${path} is ${current}, not a finite number`)
      case "undefined":
        return Result.fail(`${path} is undefined`)
      case "bigint":
        return Result.fail(`${path} is a BigInt`)
      case "symbol":
        return Result.fail(`${path} is a symbol`)
      case "function":
        return Result.fail(`${path} is a function`)
    }
    if (current === null) return Result.succeed(null)
    const object = current as object
    if (ancestors.has(object)) return Result.fail(`${path} refers back to an object that contains it (a cycle)`)
    const prototype = Object.getPrototypeOf(object)
    if (Array.isArray(object)) {
      if (prototype !== Array.prototype) return Result.fail(`${path} is ${describe(object)}`)
      ancestors.add(object)
      const items: Array<Json> = []
      for (let index = 0; index < object.length; index++) {
        // A hole reads as undefined, and JSON would turn either into null.
        const item = walk(object[index], `${path}[${index}]`)
        if (Result.isFailure(item)) return item
        items.push(item.success)
      }
      ancestors.delete(object)
      return Result.succeed(items)
    }
    if (prototype !== Object.prototype && prototype !== null) return Result.fail(`${path} is ${describe(object)}`)
    if (Object.getOwnPropertySymbols(object).length > 0) return Result.fail(`${path} has symbol keys`)
    ancestors.add(object)
    const entries: Array<[string, Json]> = []
    for (const [key, item] of Object.entries(object)) {
      if (item === undefined) continue
      const unkeptKey = unstorableText(key, `a key of ${path}`)
      if (unkeptKey !== undefined) return Result.fail(unkeptKey)
      const json = walk(item, at(path, key))
      if (Result.isFailure(json)) return json
      entries.push([key, json.success])
    }
    ancestors.delete(object)
    // fromEntries defines own properties, so a "__proto__" key stays a key and never becomes a prototype.
    return Result.succeed(Object.fromEntries(entries))
  }

  return walk(value, "$")
}

/** The JSON copy of `value` for the snapshot of `id`; fails before anything is written. */
export const toJson = (id: string, value: unknown): Effect.Effect<Json, SnapshotNotSerializable> => {
  const result = toJsonResult(value)
  return Result.isFailure(result)
    ? Effect.fail(new SnapshotNotSerializable({ id, reason: result.failure }))
    : Effect.succeed(result.success)
}

/** The size of `json` as UTF-8 JSON text, in bytes. */
export const jsonSizeBytes = (json: Json): number => encoder.encode(JSON.stringify(json)).byteLength

/** Fails with `SnapshotTooLarge` when `json` is over `limitBytes` as JSON text. */
export const checkSize = (id: string, json: Json, limitBytes: number): Effect.Effect<void, SnapshotTooLarge> => {
  const sizeBytes = jsonSizeBytes(json)
  return sizeBytes > limitBytes ? Effect.fail(new SnapshotTooLarge({ id, sizeBytes, limitBytes })) : Effect.void
}
