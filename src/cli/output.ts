/**
 * How commands print: JSON for scripts (one document, the HTTP API's shapes), and for people aligned columns and
 * short sentences, with times in UTC.
 */
import process from "node:process"
import { Effect } from "effect"

/** Prints one line on stdout. */
export const line = (text: string): Effect.Effect<void> => Effect.sync(() => void process.stdout.write(`${text}\n`))

/** Prints a value as indented JSON on stdout. */
export const json = (value: unknown): Effect.Effect<void> => line(JSON.stringify(value, null, 2))

/** Rows under a header, each column as wide as its widest cell. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)))
  const format = (cells: ReadonlyArray<string>) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd()
  return [format(header), ...rows.map(format)].join("\n")
}

/** An epoch-milliseconds time as `2026-12-07 06:20:43Z`. */
export const time = (millis: number | undefined): string =>
  millis === undefined ? "-" : `${new Date(millis).toISOString().slice(0, 19).replace("T", " ")}Z`

/** `key: value` lines, the keys aligned; entries whose value is undefined are left out. */
export const fields = (entries: ReadonlyArray<readonly [string, string | undefined]>): string => {
  const shown = entries.filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
  const width = Math.max(...shown.map(([key]) => key.length)) + 1
  return shown.map(([key, value]) => `${`${key}:`.padEnd(width)} ${value}`).join("\n")
}
