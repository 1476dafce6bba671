/**
 * Checks that a value survives a trip through JSON unchanged, and says why when it does not.
 */
import { Predicate, type Schema } from "effect"
import { unstorableText } from "../../../stores/storable.ts"

/** Why `value` is not plain JSON, or `undefined` when it is. Finds cycles, functions, NaN, class instances... */
export const whyNotJson = (value: unknown, path = "$", seen: Set<object> = new Set()): string | undefined => {
  if (value === null || Predicate.isBoolean(value)) return undefined
  // text that is JSON but that no store can keep (PostgreSQL's jsonb refuses U+0000 and lone surrogates)
  if (Predicate.isString(value)) return unstorableText(value, path)
  if (Predicate.isNumber(value)) return Number.isFinite(value) ? undefined : `${path} is ${value}, not a JSON number`
  if (value === undefined) return `${path} is undefined`
  if (Predicate.isFunction(value)) return `${path} is a function`
  if (Predicate.isSymbol(value)) return `${path} is a symbol`
  if (Predicate.isBigInt(value)) return `${path} is a BigInt`
  if (!Predicate.isObjectKeyword(value)) return `${path} is not JSON`
  if (seen.has(value)) return `${path} is a circular reference`
  seen.add(value)
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const reason = whyNotJson(value[i], `${path}[${i}]`, seen)
        if (reason !== undefined) return reason
      }
      return undefined
    }
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) {
      return `${path} is an instance of ${value.constructor?.name ?? "a class"}, which does not round-trip through JSON`
    }
    for (const [key, entry] of Object.entries(value)) {
      if (entry === undefined) continue // JSON.stringify drops undefined properties, so they round-trip as absent
      const keyReason = unstorableText(key, `a key of ${path}`)
      if (keyReason !== undefined) return keyReason
      const reason = whyNotJson(entry, `${path}.${key}`, seen)
      if (reason !== undefined) return reason
    }
    return undefined
  } finally {
    seen.delete(value)
  }
}

/** The value with `undefined` properties dropped, as JSON would store it. Call only after `whyNotJson`. */
export const asJson = (value: unknown): Schema.Json => JSON.parse(JSON.stringify(value)) as Schema.Json

/** The size of the value as UTF-8 JSON. */
export const jsonSizeBytes = (value: Schema.Json): number => new TextEncoder().encode(JSON.stringify(value)).length
