/**
 * Checking credentials. A bearer token is compared through SHA-256 digests of equal length, byte by byte without an
 * early exit, so the time taken says nothing about how much of the token was right, nor about its length.
 */
import { Effect } from "effect"
import type { Auth } from "../app.ts"

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
