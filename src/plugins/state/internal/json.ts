/**
 * JSON values of task state: as stored, and their size.
 */
import type { Schema } from "effect"

export { whyNotJson } from "../../../stores/storable.ts"

/** The value with `undefined` properties dropped, as JSON would store it. Call only after `whyNotJson`. */
export const asJson = (value: unknown): Schema.Json => JSON.parse(JSON.stringify(value)) as Schema.Json

/** The size of the value as UTF-8 JSON. */
export const jsonSizeBytes = (value: Schema.Json): number => new TextEncoder().encode(JSON.stringify(value)).length
