/**
 * Shared pieces of the progress tests: the stores a runtime with the progress plugin needs, a store that counts
 * (and can refuse) writes, and helpers to compare events.
 */
import { Effect, Layer } from "effect"
import type { TaskEvent } from "../../../src/runtime/TaskEvent.ts"
import { StoreError } from "../../../src/stores/errors.ts"
import * as MemoryProgressStore from "../../../src/stores/memory/MemoryProgressStore.ts"
import * as MemoryTaskStore from "../../../src/stores/memory/MemoryTaskStore.ts"
import { type LatestUpdate, ProgressStore } from "../../../src/stores/ProgressStore.ts"

export const Stores = Layer.merge(MemoryTaskStore.layer, MemoryProgressStore.layer)

/** The writes a counting store received: the size of each batch of lines, and each latest-row update. */
export interface StoreCalls {
  readonly appendLogs: Array<number>
  readonly setLatest: Array<LatestUpdate>
}

/**
 * A memory `ProgressStore` that records every write, in the task store's company. Its first `failAppends`
 * appends fail with `StoreError` and write nothing, as a database that is briefly down does.
 */
export const countingStores = (options: { readonly failAppends?: number } = {}) => {
  const calls: StoreCalls = { appendLogs: [], setLatest: [] }
  let failures = options.failAppends ?? 0
  const counting = Layer.effect(
    ProgressStore,
    Effect.map(ProgressStore, (inner) =>
      ProgressStore.of({
        ...inner,
        appendLogs: (taskId, entries, append) =>
          Effect.suspend(() => {
            calls.appendLogs.push(entries.length)
            if (failures > 0) {
              failures--
              return Effect.fail(new StoreError({ operation: "appendLogs", cause: new Error("connection lost") }))
            }
            return inner.appendLogs(taskId, entries, append)
          }),
        setLatest: (taskId, update) =>
          Effect.suspend(() => {
            calls.setLatest.push(update)
            return inner.setLatest(taskId, update)
          })
      })
    )
  ).pipe(Layer.provide(MemoryProgressStore.layer))
  return { calls, layer: Layer.merge(MemoryTaskStore.layer, counting) }
}

/** The events that `Progress` calls published, in order. */
export const progressEvents = (events: ReadonlyArray<TaskEvent>) =>
  events.filter((event) => event._tag !== "StatusChanged")

/** An event without what the runtime assigns (number, time, task), to compare what a body reported. */
export const reported = (event: TaskEvent): Record<string, unknown> => {
  const { seq: _seq, at: _at, taskId: _taskId, taskName: _taskName, ...rest } = event
  return rest
}

/** True when every number is larger than the one before it. */
export const isAscending = (numbers: ReadonlyArray<number>) =>
  numbers.every((n, i) => i === 0 || n > (numbers[i - 1] as number))

/** True for the event of a task reaching a status it never leaves. */
export const hasEnded = (event: TaskEvent) =>
  event._tag === "StatusChanged" &&
  (event.status === "completed" || event.status === "failed" || event.status === "cancelled")
