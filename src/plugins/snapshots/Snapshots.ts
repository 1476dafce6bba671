/**
 * The running task's snapshots: whole copies of its data, saved as versions 1, 2, 3... in the `SnapshotStore`,
 * so a later run (or another task, by a fork) can continue from any of them. Every value is checked before
 * anything is written: it must survive JSON, fit the size limit and, when a Schema is given, match it.
 */
import { Context, Effect, Layer, type Option, type Schema } from "effect"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import type { StoreError } from "../../stores/errors.ts"
import {
  type SnapshotOrigin,
  type SnapshotPruneOptions,
  type SnapshotRecord,
  SnapshotStore
} from "../../stores/SnapshotStore.ts"
import type { MigrationFailed, UnknownDataVersion } from "../versioning/errors.ts"
import type { Versioned } from "../versioning/Versioned.ts"
import {
  type SnapshotCorrupted,
  SnapshotForkConflict,
  type SnapshotInvalid,
  SnapshotNotFound,
  type SnapshotNotSerializable,
  type SnapshotTooLarge
} from "./errors.ts"
import { makeSnapshots } from "./internal/service.ts"
import * as Staging from "./internal/staging.ts"

/** One snapshot, with its data decoded. */
export interface Snapshot<A> {
  readonly id: string
  readonly taskId: string
  /** 1 for the task's first snapshot, one more for each save; never reused. */
  readonly version: number
  readonly data: A
  /** True for snapshots saved as checkpoints, which `prune` can keep. */
  readonly checkpoint: boolean
  /** Epoch milliseconds from the runtime's `Clock`. */
  readonly createdAt: number
  /** The `Versioned` version the data was written at, when it was written with one. */
  readonly dataVersion?: number | undefined
  /** Where a forked snapshot was copied from. */
  readonly origin?: SnapshotOrigin | undefined
}

/** One page of snapshots, newest first; pass `nextBefore` as `before` for the next page. */
export interface SnapshotPage<A> {
  readonly items: ReadonlyArray<Snapshot<A>>
  readonly nextBefore: number | undefined
}

/** How snapshot data is checked and encoded: a Schema (with a JSON encoding), or `Versioned` data. */
export type SnapshotSchema<A> = Schema.Codec<A, unknown> | Versioned<A>

/** Why a save wrote nothing. */
export type SaveError = SnapshotNotSerializable | SnapshotTooLarge | SnapshotInvalid | StoreError

/** Why a stored snapshot was not returned: it failed its checksum, it does not decode, or the store failed. */
export type ReadError = SnapshotCorrupted | SnapshotInvalid | UnknownDataVersion | MigrationFailed | StoreError

/** What a task reports to the automatic policy (see `SnapshotPolicy`). */
export type PolicyEvent = "step" | "stateWrite"

/**
 * When snapshots are saved without the body asking. `onSuspend` saves the value last given to `stage` as a
 * checkpoint when the task suspends (it needs `SnapshotPlugin`). `afterEveryStep` and `everyStateWrites` act on
 * the events another plugin reports through `observe` (the state plugin, for its steps and writes).
 */
export interface SnapshotPolicy {
  readonly onSuspend?: boolean | undefined
  readonly afterEveryStep?: boolean | undefined
  /** Saves a snapshot on every N-th state write of an execution. */
  readonly everyStateWrites?: number | undefined
}

/** How a `Snapshots` service checks and saves. */
export interface SnapshotsOptions {
  /** The largest snapshot, as UTF-8 JSON. Default: 1 MiB. */
  readonly sizeLimitBytes?: number | undefined
  readonly policy?: SnapshotPolicy | undefined
}

/** Snapshot operations on data of type `A` (saved from `In`: `unknown` for plain JSON, checked at run time). */
export interface SnapshotsApi<A, In = A> {
  /** Saves `data` as the task's next version. Fails before writing anything if `data` cannot be stored. */
  readonly save: (
    data: In,
    options?: { readonly checkpoint?: boolean | undefined }
  ) => Effect.Effect<Snapshot<A>, SaveError>
  readonly latest: () => Effect.Effect<Option.Option<Snapshot<A>>, ReadError>
  /** The latest snapshot's data, or `initial` when the task has none: how a body resumes where it stopped. */
  readonly latestOr: (initial: A) => Effect.Effect<A, ReadError>
  readonly get: (version: number) => Effect.Effect<Snapshot<A>, SnapshotNotFound | ReadError>
  /** The task's snapshots, newest first: 100 unless `limit` says otherwise, below version `before` if given. */
  readonly list: (options?: {
    readonly limit?: number | undefined
    readonly before?: number | undefined
  }) => Effect.Effect<SnapshotPage<A>, ReadError>
  /** Every stored checkpoint, newest first. */
  readonly checkpoints: () => Effect.Effect<ReadonlyArray<Snapshot<A>>, ReadError>
  /**
   * Saves a new latest version whose data is that of `version`; the versions in between stay in the history.
   * Fails, writing nothing, if that version no longer decodes.
   */
  readonly rollback: (version: number) => Effect.Effect<Snapshot<A>, SnapshotNotFound | ReadError>
  /** Removes old snapshots (never the latest) and returns how many. */
  readonly prune: (options: SnapshotPruneOptions) => Effect.Effect<number, StoreError>
  /**
   * Copies this task's `version` as version 1 of task `toTaskId`, recording its origin; the new task can then
   * start from it with `latestOr`.
   */
  readonly fork: (
    version: number,
    toTaskId: string
  ) => Effect.Effect<Snapshot<A>, SnapshotNotFound | SnapshotForkConflict | ReadError>
  /**
   * Remembers `data` (checked and encoded now) as the value the automatic policy saves when the task suspends.
   * Writes nothing itself.
   */
  readonly stage: (data: In) => Effect.Effect<void, Exclude<SaveError, StoreError>>
}

export class Snapshots extends Context.Service<
  Snapshots,
  SnapshotsApi<Schema.Json, unknown> & {
    /** The same operations with data checked and decoded by `schema`; a stored value that does not decode fails. */
    readonly typed: <A>(schema: SnapshotSchema<A>) => SnapshotsApi<A>
    /**
     * For plugins that drive the automatic policy: reports a finished step or a state write. When the policy asks
     * for a snapshot, runs `capture` and saves its value; returns the snapshot saved, if any.
     */
    readonly observe: <E, R>(
      event: PolicyEvent,
      capture: Effect.Effect<unknown, E, R>
    ) => Effect.Effect<Option.Option<Snapshot<Schema.Json>>, E | SaveError, R>
  }
>()("waypoint/plugins/snapshots/Snapshots") {
  /** The running task's snapshots, from `TaskInfo` and the `SnapshotStore`; building it does no I/O. */
  static layer(options: SnapshotsOptions = {}): Layer.Layer<Snapshots, never, TaskInfo | SnapshotStore> {
    return Layer.effect(
      Snapshots,
      Effect.gen(function* () {
        const task = yield* TaskInfo
        const store = yield* SnapshotStore
        // Nothing reads a staging of its own: values staged here are saved only under `SnapshotPlugin`.
        return Snapshots.of(makeSnapshots(task, store, options, Staging.make()))
      })
    )
  }
}

/**
 * Copies snapshot `version` of task `fromTaskId` as version 1 of task `toTaskId`, recording its origin; nothing is
 * written if the source is missing or `toTaskId` already has snapshots. The primitive under "start a new task
 * from a snapshot": fork, then run the new task, whose body continues with `latestOr`. A damaged source is
 * `SnapshotCorrupted`, and nothing is written.
 */
export const forkSnapshot = Effect.fn("forkSnapshot")(function* (
  fromTaskId: string,
  version: number,
  toTaskId: string
): Effect.fn.Return<
  SnapshotRecord,
  SnapshotNotFound | SnapshotForkConflict | SnapshotCorrupted | StoreError,
  SnapshotStore
> {
  const store = yield* SnapshotStore
  const result = yield* store.fork({ taskId: fromTaskId, version }, toTaskId)
  switch (result._tag) {
    case "Forked":
      return result.snapshot
    case "SourceMissing":
      return yield* new SnapshotNotFound({ taskId: fromTaskId, version })
    case "TargetNotEmpty":
      return yield* new SnapshotForkConflict({ taskId: toTaskId })
  }
})
