/**
 * A `StepStore` in this process's memory: step results and signal mailboxes. Receiving a signal is one
 * synchronous step, so it is atomic without a lock.
 */
import { Effect, Layer, Option, type Schema } from "effect"
import { StepStore } from "../StepStore.ts"

/** Builds an empty in-memory step store. */
export const make = Effect.sync(() => {
  const steps = new Map<string, Map<string, Schema.Json>>()
  const mailboxes = new Map<string, Array<Schema.Json>>()
  const stepsOf = (taskId: string) => {
    let entries = steps.get(taskId)
    if (entries === undefined) {
      entries = new Map()
      steps.set(taskId, entries)
    }
    return entries
  }
  const mailbox = (taskId: string, name: string) => `${taskId}\u0000${name}`

  return StepStore.of({
    getStep: (taskId, key) => Effect.sync(() => Option.fromUndefinedOr(steps.get(taskId)?.get(key))),
    putStep: (taskId, key, value) =>
      Effect.sync(() => {
        const entries = stepsOf(taskId)
        const existing = entries.get(key)
        if (existing !== undefined) return existing
        entries.set(key, value)
        return value
      }),
    listSteps: (taskId) => Effect.sync(() => new Map(steps.get(taskId) ?? [])),
    sendSignal: (taskId, name, payload) =>
      Effect.sync(() => {
        const key = mailbox(taskId, name)
        const queue = mailboxes.get(key) ?? []
        queue.push(payload)
        mailboxes.set(key, queue)
      }),
    receiveSignal: (taskId, name, stepKey) =>
      Effect.sync(() => {
        const entries = stepsOf(taskId)
        const recorded = entries.get(stepKey)
        if (recorded !== undefined) return Option.some(recorded)
        const queue = mailboxes.get(mailbox(taskId, name))
        const payload = queue?.shift()
        if (payload === undefined) return Option.none()
        entries.set(stepKey, payload)
        return Option.some(payload)
      }),
    pendingSignals: (taskId, name) => Effect.sync(() => mailboxes.get(mailbox(taskId, name))?.length ?? 0)
  })
})

/** A fresh in-memory step store for each build of the layer. */
export const layer: Layer.Layer<StepStore> = Layer.effect(StepStore, make)
