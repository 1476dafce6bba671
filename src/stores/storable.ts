/**
 * What every store can keep of a JSON value. PostgreSQL's `jsonb` refuses the character U+0000 and UTF-16 surrogates
 * without their pair (a JavaScript string may hold both); the runtime checks values against this before it writes
 * them, so such a value is a typed error of its own instead of a write the database refuses, and every store takes
 * the same values.
 */

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
