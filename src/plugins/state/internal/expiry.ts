/**
 * When a state entry expires, and whether it is still live: an entry with an expiry reads as absent from then on.
 */
import { Duration } from "effect"

/** Whether an entry expiring at `expiresAt` (epoch millis, none: never) still reads at `now`. */
export const isLive = (entry: { readonly expiresAt?: number | undefined }, now: number): boolean =>
  entry.expiresAt === undefined || entry.expiresAt > now

/** The expiry of an entry written at `now` with `ttl`; none for no TTL or an infinite one. */
export const expiryOf = (now: number, ttl: Duration.Input | undefined): number | undefined => {
  if (ttl === undefined) return undefined
  const millis = Duration.toMillis(ttl)
  return Number.isFinite(millis) ? now + millis : undefined
}
