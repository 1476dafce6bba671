/**
 * A `RateLimitStore` in this process's memory: each key's state changed in one synchronous step.
 */
import { Effect, Layer } from "effect"
import {
  backedOff,
  decide,
  emptyKeyState,
  type KeyLimits,
  type KeyState,
  RateLimitStore,
  released
} from "../RateLimitStore.ts"
import { closable } from "./closable.ts"

/** Builds an empty in-memory rate-limit store. */
export const make = Effect.sync(() => {
  const keys = new Map<string, KeyState>()
  const stateOf = (key: string) => keys.get(key) ?? emptyKeyState

  const acquire = (key: string, limits: KeyLimits, holder: string, now: number, leaseMillis: number) =>
    Effect.sync(() => {
      const [answer, next] = decide(stateOf(key), limits, holder, now, leaseMillis)
      keys.set(key, next)
      return answer
    })

  const release = (key: string, holder: string, tokens: number) =>
    Effect.sync(() => {
      keys.set(key, released(stateOf(key), holder, tokens))
    })

  const backOff = (key: string, until: number) =>
    Effect.sync(() => {
      keys.set(key, backedOff(stateOf(key), until))
    })

  const read = (key: string) => Effect.sync(() => stateOf(key))

  return RateLimitStore.of({ acquire, release, backOff, read })
})

export const layer: Layer.Layer<RateLimitStore> = Layer.effect(RateLimitStore, Effect.flatMap(make, closable))
