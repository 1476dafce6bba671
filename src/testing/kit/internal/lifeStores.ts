/**
 * The stores one life of a test runtime sees: the kit's own stores behind a gate that, once the life has crashed,
 * refuses every call before it reaches them, and that reports each committed write a crash point may name.
 */
import { Context, Effect, Predicate } from "effect"
import { BudgetStore } from "../../../stores/BudgetStore.ts"
import { StoreError } from "../../../stores/errors.ts"
import { ProgressStore } from "../../../stores/ProgressStore.ts"
import { RateLimitStore } from "../../../stores/RateLimitStore.ts"
import { RunTreeStore } from "../../../stores/RunTreeStore.ts"
import { SnapshotStore } from "../../../stores/SnapshotStore.ts"
import { StateStore } from "../../../stores/StateStore.ts"
import { StepStore } from "../../../stores/StepStore.ts"
import { StorageBackend } from "../../../stores/StorageBackend.ts"
import { TaskStore } from "../../../stores/TaskStore.ts"
import type { CommittedWrite } from "../CrashPoint.ts"
import { SimulatedCrash } from "../errors.ts"

/** Whether a life has crashed, and where: read on every store call of that life. */
export interface LifeState {
  crashedAt: string | undefined
}

/** Told of each committed write of a living runtime; `true` when it crashed the life there. */
export type OnCommitted = (write: CommittedWrite) => Effect.Effect<boolean>

const refuse = (operation: string, life: LifeState) =>
  Effect.fail(new StoreError({ operation, cause: new SimulatedCrash({ point: life.crashedAt ?? "unknown" }) }))

/** `service`, each of whose operations fails with a `SimulatedCrash` once the life has crashed. */
const gate = <S extends object>(service: S, life: LifeState): S => {
  const gated: Record<string, unknown> = {}
  for (const [operation, value] of Object.entries(service)) {
    gated[operation] = Predicate.isFunction(value)
      ? (...args: ReadonlyArray<unknown>) => {
          if (life.crashedAt !== undefined) return refuse(operation, life)
          const result: unknown = (value as (...args: ReadonlyArray<unknown>) => unknown)(...args)
          // checked again when it runs: an effect built before the crash may run after it
          return Effect.isEffect(result)
            ? Effect.suspend(() => (life.crashedAt === undefined ? result : refuse(operation, life)))
            : result
        }
      : value
  }
  return gated as S
}

/** Runs `write`, then tells `onCommitted`; a write that crashed the life never answers its caller (as a dead process). */
const reporting = <A, E>(
  operation: string,
  life: LifeState,
  onCommitted: OnCommitted,
  write: Effect.Effect<A, E>,
  describe: (result: A) => CommittedWrite
): Effect.Effect<A, E | StoreError> =>
  Effect.flatMap(write, (result) =>
    Effect.flatMap(onCommitted(describe(result)), (crashed) =>
      crashed ? refuse(operation, life) : Effect.succeed(result)
    )
  )

/** `context` with each store it holds replaced by the gated store of this life. */
export const lifeContext = <R>(
  context: Context.Context<R>,
  life: LifeState,
  onCommitted: OnCommitted
): Context.Context<R> => {
  let next = context as Context.Context<unknown>
  const replace = <I, S extends object>(tag: Context.Key<I, S>, wrap: (service: S) => S = (s) => s) => {
    const found = Context.getOption(context as Context.Context<unknown>, tag)
    if (found._tag === "Some") next = Context.add(next, tag, wrap(gate(found.value, life)))
  }
  replace(TaskStore, (tasks) => ({
    ...tasks,
    create: (task) =>
      reporting("create", life, onCommitted, tasks.create(task), (record) => ({ _tag: "Created", task: record }))
  }))
  replace(StepStore, (steps) => ({
    ...steps,
    checkpoint: (checkpoint) =>
      reporting("checkpoint", life, onCommitted, steps.checkpoint(checkpoint), (stored) => ({
        _tag: "Checkpoint",
        checkpoint,
        stored
      }))
  }))
  replace(SnapshotStore, (snapshots) => ({
    ...snapshots,
    save: (snapshot) =>
      reporting("save", life, onCommitted, snapshots.save(snapshot), (record) => ({
        _tag: "Snapshot",
        snapshot: record
      }))
  }))
  replace(StateStore)
  replace(ProgressStore)
  replace(StorageBackend)
  replace(RunTreeStore)
  replace(BudgetStore)
  replace(RateLimitStore)
  return next as Context.Context<R>
}
