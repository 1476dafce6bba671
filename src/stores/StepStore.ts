/**
 * The contract for what a task's replay reads: results of completed steps, and the task's signal mailbox.
 * Both live in one contract because receiving a signal moves it from the mailbox into the step results in one
 * atomic operation: a signal is delivered exactly once, and a re-run reads the same answer.
 */
import { Context, type Effect, type Option, type Schema } from "effect"
import type { LeaseLost, StoreError } from "./errors.ts"
import type { StateWrite } from "./StateStore.ts"

/** A step's result and the state it changes, recorded together. */
export interface Checkpoint {
  readonly taskId: string
  /** The fencing token of the attempt writing; the write is refused once another attempt owns the task. */
  readonly token: number
  readonly key: string
  readonly value: Schema.Json
  readonly state?: { readonly scope: string; readonly entries: ReadonlyMap<string, StateWrite> } | undefined
}

export class StepStore extends Context.Service<
  StepStore,
  {
    readonly getStep: (taskId: string, key: string) => Effect.Effect<Option.Option<Schema.Json>, StoreError>
    /** Records a step result unless one is already recorded; returns the recorded one (the first write wins). */
    readonly putStep: (taskId: string, key: string, value: Schema.Json) => Effect.Effect<Schema.Json, StoreError>
    /**
     * Records a step's result (the first write wins, as `putStep`) and writes its state entries (as
     * `StateStore.put`), all or nothing, in one operation, and only while the attempt holding `token` owns the task:
     * otherwise `LeaseLost`, and nothing is written. Returns the recorded result.
     */
    readonly checkpoint: (checkpoint: Checkpoint) => Effect.Effect<Schema.Json, StoreError | LeaseLost>
    /**
     * Every recorded step result of a task; with `prefix`, those whose key starts with it (a store may return more:
     * callers filter too).
     */
    readonly listSteps: (
      taskId: string,
      prefix?: string | undefined
    ) => Effect.Effect<ReadonlyMap<string, Schema.Json>, StoreError>
    /** Adds a signal to the task's mailbox; signals of one name are received oldest first. */
    readonly sendSignal: (taskId: string, name: string, payload: Schema.Json) => Effect.Effect<void, StoreError>
    /**
     * Moves the oldest signal `name` of the task into the step results under `stepKey`, atomically, and returns
     * its payload. If `stepKey` is already recorded, returns that and consumes nothing. `None`: no signal waits.
     */
    readonly receiveSignal: (
      taskId: string,
      name: string,
      stepKey: string
    ) => Effect.Effect<Option.Option<Schema.Json>, StoreError>
    /** How many signals `name` wait in the task's mailbox. */
    readonly pendingSignals: (taskId: string, name: string) => Effect.Effect<number, StoreError>
  }
>()("waypoint/stores/StepStore") {}
