/**
 * Limits shared by every process on a store, per key (such as `"provider:openai"`): calls at once, requests per
 * minute and tokens per minute, and a back-off that a provider's rate-limit answer sets for everyone. A key's state
 * is one small value; every store changes it with `decide` (the one rule), atomically: memory in one synchronous
 * step, PostgreSQL by compare-and-set on the key's row.
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "./errors.ts"

/** The limits of one key; an absent one is not limited. */
export interface KeyLimits {
  readonly concurrency?: number | undefined
  readonly requestsPerMinute?: number | undefined
  readonly tokensPerMinute?: number | undefined
}

/** What a key holds: permits in use (holder -> when it lapses), the last minute's requests, and a back-off. */
export interface KeyState {
  readonly holders: Readonly<Record<string, number>>
  /** `[at, tokens, holder]`, oldest first, for the last minute. */
  readonly requests: ReadonlyArray<readonly [number, number, string]>
  readonly blockedUntil?: number | undefined
}

/** The answer to a request for a permit: granted, or not before `until` (epoch milliseconds). */
export type PermitAnswer = { readonly _tag: "Granted" } | { readonly _tag: "Wait"; readonly until: number }

export const emptyKeyState: KeyState = { holders: {}, requests: [] }

const minute = 60_000

/** How long to wait before asking again when only the concurrency limit is full (its permits end at no known time). */
export const concurrencyRetryMillis = 200

/**
 * Asks a permit for `holder` at `now`; a granted permit lapses at `now + leaseMillis` unless released (a crashed
 * holder frees it then). Asking again for a holder that has one grants it again, without counting a new request.
 */
export const decide = (
  state: KeyState,
  limits: KeyLimits,
  holder: string,
  now: number,
  leaseMillis: number
): readonly [PermitAnswer, KeyState] => {
  const holders: Record<string, number> = {}
  for (const [id, lapses] of Object.entries(state.holders)) if (lapses > now) holders[id] = lapses
  // Oldest first: processes append their requests in the order they write, each stamped by its own clock when it
  // asked, so a request written later may be older.
  const requests = state.requests.filter(([at]) => at > now - minute).sort(([a], [b]) => a - b)
  const pruned: KeyState = { holders, requests, blockedUntil: state.blockedUntil }
  if (holders[holder] !== undefined) {
    return [{ _tag: "Granted" }, { ...pruned, holders: { ...holders, [holder]: now + leaseMillis } }]
  }
  if (state.blockedUntil !== undefined && state.blockedUntil > now) {
    return [{ _tag: "Wait", until: state.blockedUntil }, pruned]
  }
  if (limits.concurrency !== undefined && Object.keys(holders).length >= limits.concurrency) {
    return [{ _tag: "Wait", until: now + concurrencyRetryMillis }, pruned]
  }
  if (limits.requestsPerMinute !== undefined && requests.length >= limits.requestsPerMinute) {
    const freeing = requests[requests.length - limits.requestsPerMinute]
    return [{ _tag: "Wait", until: (freeing?.[0] ?? now) + minute }, pruned]
  }
  if (limits.tokensPerMinute !== undefined) {
    let tokens = requests.reduce((sum, [, used]) => sum + used, 0)
    if (tokens >= limits.tokensPerMinute) {
      // Not before enough of the oldest requests have left the minute to bring the tokens under the limit.
      for (const [at, used] of requests) {
        tokens -= used
        if (tokens < limits.tokensPerMinute) return [{ _tag: "Wait", until: at + minute }, pruned]
      }
    }
  }
  return [
    { _tag: "Granted" },
    { ...pruned, holders: { ...holders, [holder]: now + leaseMillis }, requests: [...requests, [now, 0, holder]] }
  ]
}

/** Ends `holder`'s permit and counts the tokens its request used against the minute it was made in. */
export const released = (state: KeyState, holder: string, tokens: number): KeyState => {
  const { [holder]: _, ...holders } = state.holders
  return {
    ...state,
    holders,
    requests: state.requests.map((request) => (request[2] === holder ? [request[0], tokens, holder] : request))
  }
}

/** Backs the key off until `until` (a later back-off wins). */
export const backedOff = (state: KeyState, until: number): KeyState => ({
  ...state,
  blockedUntil: Math.max(state.blockedUntil ?? 0, until)
})

export class RateLimitStore extends Context.Service<
  RateLimitStore,
  {
    /** Asks a permit of `key` for `holder` at `now` (see `decide`). */
    readonly acquire: (
      key: string,
      limits: KeyLimits,
      holder: string,
      now: number,
      leaseMillis: number
    ) => Effect.Effect<PermitAnswer, StoreError>
    /** Ends a permit, counting the tokens its request used (see `released`). */
    readonly release: (key: string, holder: string, tokens: number) => Effect.Effect<void, StoreError>
    /** No permit of `key` is granted before `until`, in any process (see `backedOff`). */
    readonly backOff: (key: string, until: number) => Effect.Effect<void, StoreError>
    readonly read: (key: string) => Effect.Effect<KeyState, StoreError>
  }
>()("waypoint/stores/RateLimitStore") {}
