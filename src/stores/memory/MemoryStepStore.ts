/**
 * A `StepStore` in this process's memory: step results and signal mailboxes. Receiving a signal is one
 * synchronous step, so it is atomic without a lock.
 */
import { Effect, Layer, Option, type Schema } from "effect"
import { LeaseLost, StoreError } from "../errors.ts"
import { StateStore } from "../StateStore.ts"
import { StepStore } from "../StepStore.ts"
import { TaskStore } from "../TaskStore.ts"
import { closable } from "./closable.ts"

/**
 * Builds an empty in-memory step store. A checkpoint's state goes to the `StateStore` of the context, if any, and
 * its token is checked against the `TaskStore` of the context, if any (`MemoryStore.layer` provides both).
 */
export const make = Effect.gen(function* () {
  const stateStore = yield* Effect.serviceOption(StateStore)
  const taskStore = yield* Effect.serviceOption(TaskStore)
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
    // Not a generator: a step in memory costs about as much as this function, and each `yield*` adds to it.
    checkpoint: (checkpoint): Effect.Effect<Schema.Json, StoreError | LeaseLost> => {
      const write = Effect.suspend((): Effect.Effect<Schema.Json, StoreError> => {
        const entries = stepsOf(checkpoint.taskId)
        const recorded = entries.get(checkpoint.key)
        if (recorded !== undefined) return Effect.succeed(recorded)
        const stored = Effect.sync(() => {
          entries.set(checkpoint.key, checkpoint.value)
          return checkpoint.value
        })
        if (checkpoint.state === undefined) return stored
        if (Option.isNone(stateStore)) {
          return Effect.fail(
            new StoreError({
              operation: "checkpoint",
              cause: new Error("a checkpoint with state needs a StateStore in the step store's context")
            })
          )
        }
        return Effect.andThen(stateStore.value.put(checkpoint.state.scope, checkpoint.state.entries), stored)
      })
      if (Option.isNone(taskStore)) return write
      return Effect.flatMap(
        taskStore.value.get(checkpoint.taskId),
        (task): Effect.Effect<Schema.Json, StoreError | LeaseLost> =>
          Option.isSome(task) && task.value.status === "running" && task.value.fencingToken === checkpoint.token
            ? write
            : Effect.fail(new LeaseLost({ taskId: checkpoint.taskId, token: checkpoint.token }))
      )
    },
    listSteps: (taskId, prefix) =>
      Effect.sync(() => {
        const all = steps.get(taskId) ?? []
        if (prefix === undefined) return new Map(all)
        const kept = new Map<string, Schema.Json>()
        for (const [key, value] of all) if (key.startsWith(prefix)) kept.set(key, value)
        return kept
      }),
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
export const layer: Layer.Layer<StepStore> = Layer.effect(StepStore, Effect.flatMap(make, closable))
