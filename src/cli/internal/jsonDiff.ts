/**
 * `waypoint snapshots diff`: what changed between two JSON values, as a list of changes at JSON Pointer paths
 * (RFC 6901), objects compared key by key and arrays index by index.
 */
import { Predicate } from "effect"

/** One difference: a value added, removed, or replaced at `path`. */
export type Change =
  | { readonly op: "added"; readonly path: string; readonly to: unknown }
  | { readonly op: "removed"; readonly path: string; readonly from: unknown }
  | { readonly op: "changed"; readonly path: string; readonly from: unknown; readonly to: unknown }

const pointer = (path: string, key: string | number) =>
  `${path}/${String(key).replaceAll("~", "~0").replaceAll("/", "~1")}`

const isRecord = (value: unknown): value is Record<string, unknown> =>
  Predicate.isObject(value) && !Array.isArray(value)

/** The changes that turn `from` into `to`, in the order of their paths' keys. */
export const diff = (from: unknown, to: unknown, path = ""): ReadonlyArray<Change> => {
  if (Array.isArray(from) && Array.isArray(to)) {
    const changes: Array<Change> = []
    for (let i = 0; i < Math.max(from.length, to.length); i++) {
      if (i >= to.length) changes.push({ op: "removed", path: pointer(path, i), from: from[i] })
      else if (i >= from.length) changes.push({ op: "added", path: pointer(path, i), to: to[i] })
      else changes.push(...diff(from[i], to[i], pointer(path, i)))
    }
    return changes
  }
  if (isRecord(from) && isRecord(to)) {
    const changes: Array<Change> = []
    for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
      if (!Object.hasOwn(to, key)) changes.push({ op: "removed", path: pointer(path, key), from: from[key] })
      else if (!Object.hasOwn(from, key)) changes.push({ op: "added", path: pointer(path, key), to: to[key] })
      else changes.push(...diff(from[key], to[key], pointer(path, key)))
    }
    return changes
  }
  return Object.is(from, to) ? [] : [{ op: "changed", path, from, to }]
}

/** A change as a line: `+ /a/b 1`, `- /c "x"`, `~ /d 1 -> 2`. */
export const formatChange = (change: Change): string => {
  const at = change.path === "" ? "/" : change.path
  switch (change.op) {
    case "added":
      return `+ ${at} ${JSON.stringify(change.to)}`
    case "removed":
      return `- ${at} ${JSON.stringify(change.from)}`
    case "changed":
      return `~ ${at} ${JSON.stringify(change.from)} -> ${JSON.stringify(change.to)}`
  }
}
