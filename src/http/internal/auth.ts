/**
 * Checking credentials. A bearer token is compared through SHA-256 digests of equal length, byte by byte without an
 * early exit, so the time taken says nothing about how much of the token was right, nor about its length. A token
 * that no request could carry is refused when the app is built, not found out by every request answering 401.
 */
import { Effect } from "effect"
import type { Auth } from "../app.ts"
import { InvalidBearerToken, MAX_BEARER_TOKEN_LENGTH, MIN_BEARER_TOKEN_LENGTH } from "../errors.ts"

const encoder = new TextEncoder()

const digest = (text: string) =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", encoder.encode(text))).pipe(
    Effect.map((buffer) => new Uint8Array(buffer))
  )

const isSameSecret = (given: string, expected: string) =>
  Effect.map(Effect.all([digest(given), digest(expected)]), ([a, b]) => {
    let difference = 0
    for (let i = 0; i < a.length; i++) difference |= (a[i] ?? 0) ^ (b[i] ?? 0)
    return difference === 0
  })

/** RFC 6750: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const b64token = /^[A-Za-z0-9\-._~+/]+=*$/
const tokenCharacter = /^[A-Za-z0-9\-._~+/]$/

/** A character named without quoting the secret around it. */
const describeCharacter = (char: string): string => {
  const code = `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`
  return /^[\u0021-\u007e]$/.test(char) ? `"${char}" (${code})` : code
}

/** Why no client could authenticate with this token, or `undefined` when it is a usable bearer token. */
export const bearerTokenProblem = (token: unknown): string | undefined => {
  if (typeof token !== "string")
    return `it is ${token === undefined ? "undefined (an unset variable?)" : "not a string"}`
  if (token.length === 0) return "it is empty"
  if (!b64token.test(token)) {
    const chars = Array.from(token)
    const padding = token.length - token.replace(/=+$/, "").length
    const at = chars.findIndex(
      (char, i) => !tokenCharacter.test(char) && !(char === "=" && i >= chars.length - padding)
    )
    const char = chars[at] ?? ""
    return char === "="
      ? `character ${at + 1} is "=", which may only end the token`
      : `character ${at + 1} is ${describeCharacter(char)}, which an Authorization header cannot carry in a token`
  }
  if (token.length < MIN_BEARER_TOKEN_LENGTH) return `it is ${token.length} characters long`
  if (token.length > MAX_BEARER_TOKEN_LENGTH) return `it is ${token.length} characters long`
  return undefined
}

/** Fails with `InvalidBearerToken` unless every route's `Authorization: Bearer <token>` can match `auth.bearer`. */
export const checkAuth = (auth: Auth | undefined): Effect.Effect<void, InvalidBearerToken> => {
  if (auth === undefined || !("bearer" in auth)) return Effect.void
  const reason = bearerTokenProblem(auth.bearer)
  return reason === undefined ? Effect.void : Effect.fail(new InvalidBearerToken({ reason }))
}

const bearerToken = (request: Request): string | undefined => {
  const header = request.headers.get("authorization")
  const match = header === null ? null : /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header)
  return match?.[1]
}

/** True when the request may go on. A `verify` that throws is a defect: the request fails with a logged 500. */
export const isAuthorized = (auth: Auth, request: Request): Effect.Effect<boolean> => {
  if ("bearer" in auth) {
    const token = bearerToken(request)
    return token === undefined ? Effect.succeed(false) : isSameSecret(token, auth.bearer)
  }
  return Effect.promise(() => Promise.resolve().then(() => auth.verify(request))).pipe(
    Effect.map((verdict) => verdict === true)
  )
}
