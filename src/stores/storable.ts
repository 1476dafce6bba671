/**
 * What every store can keep of a JSON value. PostgreSQL's `jsonb` refuses the character U+0000 and UTF-16 surrogates
 * without their pair (a JavaScript string may hold both); the runtime checks values against this before it writes
 * them, so such a value is a typed error of its own instead of a write the database refuses, and every store takes
 * the same values.
 */
import { Predicate } from "effect"

/** Why `text` cannot be stored, or undefined when it can. */
const textIssue = (text: string): string | undefined =>
  text.includes("\u0000")
    ? "holds the character U+0000, which PostgreSQL cannot store"
    : text.isWellFormed()
      ? undefined
      : "holds a lone UTF-16 surrogate, which PostgreSQL cannot store"

/** Why the text at `path` cannot be stored, or undefined when it can. */
export const unstorableText = (text: string, path: string): string | undefined => {
  const issue = textIssue(text)
  return issue === undefined ? undefined : `the text at ${path} ${issue}`
}

/** Why `value` (already JSON) cannot be stored, naming where in it (`$.a[0]`), or undefined when it can. */
export const unstorable = (value: unknown, path = "$"): string | undefined => {
  if (typeof value === "string") return unstorableText(value, path)
  if (typeof value !== "object" || value === null) return undefined
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const issue = unstorable(value[i], `${path}[${i}]`)
      if (issue !== undefined) return issue
    }
    return undefined
  }
  for (const [key, item] of Object.entries(value)) {
    const keyIssue = textIssue(key)
    if (keyIssue !== undefined) return `a key in ${path} ${keyIssue}`
    const issue = unstorable(item, `${path}.${key}`)
    if (issue !== undefined) return issue
  }
  return undefined
}

/** `text` with what no store can keep replaced by U+FFFD: for messages, which must be stored whatever they hold. */
export const storableText = (text: string): string => text.replaceAll("\u0000", "\uFFFD").toWellFormed()

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
