/**
 * Per-key limits of model calls, shared by every process on the store: a call takes a permit of its key before it is
 * made and gives it back, with the tokens it used, once answered. A permit that is not far off is waited for in the
 * process; one further off than `suspendAfter` suspends the task until then instead (no fiber, no slot), and the
 * body runs again, its recorded calls answered from their records. A provider's rate-limit answer backs the key
 * off for everyone.
 */
import { Clock, Duration, Effect, Option } from "effect"
import { AiError } from "effect/ai"
import { suspend } from "../../../runtime/Suspension.ts"
import type { TaskInfo } from "../../../runtime/TaskInfo.ts"
import type { StoreError } from "../../../stores/errors.ts"
import type { KeyLimits, RateLimitStore } from "../../../stores/RateLimitStore.ts"
import type { CallUsage } from "../ModelUsage.ts"

/** How the calls of a `ModelCalls` plugin are limited. */
export interface CallLimitsOptions {
  /** Limits by key; a call whose key has none is not limited. */
  readonly limits?: Readonly<Record<string, KeyLimits>> | undefined
  /** The key of a call. Default `provider:<the plugin's provider>`. */
  readonly limitKey?: ((method: string) => string) | undefined
  /** A permit further off than this suspends the task instead of waiting in the process. Default 5 seconds. */
  readonly suspendAfter?: Duration.Input | undefined
  /** A permit not given back (its process crashed) is free again after this. Default 10 minutes. */
  readonly permitLease?: Duration.Input | undefined
  /** How long a rate-limit answer without a retry time backs its key off. Default 30 seconds. */
  readonly backOff?: Duration.Input | undefined
}

export interface CallPermit {
  /** Waits for (or suspends the task until) a permit for the call `key`; the permit's key, when limited. */
  readonly take: (key: string, method: string) => Effect.Effect<string | undefined, StoreError>
  /** Gives the permit back, counting what the call used. */
  readonly give: (limitKey: string | undefined, key: string, usage: CallUsage | undefined) => Effect.Effect<void>
  /** Gives it back after a failed call, backing the key off if the provider said it was rate-limited. */
  readonly failed: (limitKey: string | undefined, key: string, error: unknown) => Effect.Effect<void>
}

export const unlimited: CallPermit = {
  take: () => Effect.succeed(undefined),
  give: () => Effect.void,
  failed: () => Effect.void
}

export const makeCallPermit = (
  task: TaskInfo["Service"],
  store: Option.Option<RateLimitStore["Service"]>,
  provider: string,
  options: CallLimitsOptions
): CallPermit => {
  const limits = options.limits
  if (Option.isNone(store) || limits === undefined || Object.keys(limits).length === 0) return unlimited
  const permits = store.value
  const suspendAfter = Duration.toMillis(Duration.fromInputUnsafe(options.suspendAfter ?? "5 seconds"))
  const lease = Duration.toMillis(Duration.fromInputUnsafe(options.permitLease ?? "10 minutes"))
  const backOff = Duration.toMillis(Duration.fromInputUnsafe(options.backOff ?? "30 seconds"))
  const holderOf = (key: string) => `${task.id}/${key}`

  const take = (key: string, method: string) =>
    Effect.gen(function* () {
      const limitKey = options.limitKey?.(method) ?? `provider:${provider}`
      const keyLimits = limits[limitKey]
      if (keyLimits === undefined) return undefined
      while (true) {
        const now = yield* Clock.currentTimeMillis
        const answer = yield* permits.acquire(limitKey, keyLimits, holderOf(key), now, lease)
        if (answer._tag === "Granted") return limitKey
        if (answer.until - now > suspendAfter) {
          return yield* suspend({ _tag: "Paused", until: answer.until }, answer.until)
        }
        yield* Effect.sleep(Duration.millis(Math.max(1, answer.until - now)))
      }
    })

  const give = (limitKey: string | undefined, key: string, usage: CallUsage | undefined) =>
    limitKey === undefined
      ? Effect.void
      : Effect.ignore(permits.release(limitKey, holderOf(key), (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0)))

  const failed = (limitKey: string | undefined, key: string, error: unknown) =>
    Effect.gen(function* () {
      if (limitKey === undefined) return
      if (AiError.isAiError(error) && error.reason._tag === "RateLimitError") {
        const now = yield* Clock.currentTimeMillis
        const retryAfter = error.reason.retryAfter
        const until = retryAfter === undefined ? now + backOff : now + Duration.toMillis(retryAfter)
        yield* Effect.ignore(permits.backOff(limitKey, until))
      }
      yield* give(limitKey, key, undefined)
    })

  return { take, give, failed }
}
