/**
 * JSON values of task state: as stored, and their size.
 */
import type { Schema } from "effect"

export { whyNotJson } from "../../../stores/storable.ts"

/** A checked primitive as JSON stores it: itself, but -0, which JSON writes as 0. */
const primitiveAsJson = (value: unknown): Schema.Json => (value === 0 ? 0 : (value as Schema.Json))

const isComposite = (value: unknown): value is object => typeof value === "object" && value !== null

/** The value with `undefined` properties dropped, as JSON would store it. Call only after `whyNotJson`. */
export const asJson = (value: unknown): Schema.Json =>
  // Only objects and arrays can hold what JSON drops: a primitive needs no round trip through text.
  isComposite(value) ? (JSON.parse(JSON.stringify(value)) as Schema.Json) : primitiveAsJson(value)

/** The value as stored (as `asJson`) and its JSON text, from one serialization. Call only after `whyNotJson`. */
export const asJsonWithText = (value: unknown): { readonly json: Schema.Json; readonly text: string } => {
  const text = JSON.stringify(value)
  return { json: isComposite(value) ? (JSON.parse(text) as Schema.Json) : primitiveAsJson(value), text }
}

const encoder = new TextEncoder()

/** The size of JSON `text` in UTF-8 bytes when it is over `limitBytes`, or `undefined` when it is not. */
export const sizeOverLimit = (text: string, limitBytes: number): number | undefined => {
  // Each UTF-16 unit takes at most 3 bytes: text this short is under the limit without counting.
  if (text.length * 3 <= limitBytes) return undefined
  const sizeBytes = encoder.encode(text).byteLength
  return sizeBytes > limitBytes ? sizeBytes : undefined
}

/** Past the longest JSON text of a null, a boolean or a finite number (`-0.0000012710402602063477` has 25). */
export const maxPrimitiveJsonBytes = 32

/**
 * A null, a boolean or a finite number as stored, or `undefined` for any other value: those are JSON without a check,
 * and no longer than `maxPrimitiveJsonBytes`.
 */
export const primitiveJson = (value: unknown): Schema.Json | undefined =>
  value === null || typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))
    ? primitiveAsJson(value)
    : undefined
