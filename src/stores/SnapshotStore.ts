/**
 * The contract every snapshot store implements: an append-only history of JSON snapshots per task, numbered
 * 1, 2, 3... by the store itself, so concurrent saves never share or skip a version. Every operation is one
 * statement on a SQL store (`version = max + 1` inside the insert, unique `(task_id, version)`).
 */
import { Context, type Effect, type Option, Schema } from "effect"
import type { StoreError } from "./errors.ts"

/** The task and version a forked snapshot was copied from. */
export const SnapshotOrigin = Schema.Struct({ taskId: Schema.String, version: Schema.Number })
export type SnapshotOrigin = typeof SnapshotOrigin.Type

/** One snapshot as every store keeps it. `createdAt` is epoch milliseconds from the runtime's `Clock`. */
export const SnapshotRecord = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  /** 1 for a task's first snapshot, then one more for each save. */
  version: Schema.Number,
  data: Schema.Json,
  checkpoint: Schema.Boolean,
  createdAt: Schema.Number,
  /** The version of the data's Schema (see `Versioned`), when the data is versioned. */
  dataVersion: Schema.optionalKey(Schema.Number),
  origin: Schema.optionalKey(SnapshotOrigin)
})
export type SnapshotRecord = typeof SnapshotRecord.Type

/** What `save` needs; the store assigns the id, the version and the time. */
export interface NewSnapshot {
  readonly taskId: string
  readonly data: Schema.Json
  readonly checkpoint: boolean
  readonly dataVersion?: number | undefined
}

/** Paging for `list`: at most `limit` snapshots, newest first, with versions below `before` when it is given. */
export interface SnapshotQuery {
  /** Clamped to 1..1000. */
  readonly limit: number
  readonly before?: number | undefined
}

/** One page of snapshots, newest first; pass `nextBefore` as `before` to read the next page. */
export interface SnapshotRecordPage {
  readonly items: ReadonlyArray<SnapshotRecord>
  readonly nextBefore: number | undefined
}

/** What `prune` keeps: the newest `keepLast` versions (the latest always), and every checkpoint if asked. */
export interface SnapshotPruneOptions {
  readonly keepLast: number
  readonly keepCheckpoints: boolean
}

/** How a `fork` ended: the new snapshot, or why nothing was written. */
export type ForkResult =
  | { readonly _tag: "Forked"; readonly snapshot: SnapshotRecord }
  | { readonly _tag: "SourceMissing" }
  /** The target task already has snapshots, so the copy cannot be its version 1. */
  | { readonly _tag: "TargetNotEmpty" }

export class SnapshotStore extends Context.Service<
  SnapshotStore,
  {
    /** Appends a snapshot as the task's next version, assigned atomically: concurrent saves get distinct versions. */
    readonly save: (snapshot: NewSnapshot) => Effect.Effect<SnapshotRecord, StoreError>
    /** The task's newest snapshot, read through a pointer: as fast after a million versions as after one. */
    readonly latest: (taskId: string) => Effect.Effect<Option.Option<SnapshotRecord>, StoreError>
    readonly get: (taskId: string, version: number) => Effect.Effect<Option.Option<SnapshotRecord>, StoreError>
    readonly list: (taskId: string, query: SnapshotQuery) => Effect.Effect<SnapshotRecordPage, StoreError>
    /** Every checkpoint of the task that is still stored, newest first. */
    readonly checkpoints: (taskId: string) => Effect.Effect<ReadonlyArray<SnapshotRecord>, StoreError>
    /**
     * Removes old snapshots and returns how many it removed. The latest snapshot is never removed, so versions
     * keep growing from where they were and are never reused.
     */
    readonly prune: (taskId: string, options: SnapshotPruneOptions) => Effect.Effect<number, StoreError>
    /**
     * Copies one snapshot as version 1 of another task, recording where it came from. Writes nothing when the
     * source is missing or the target already has snapshots.
     */
    readonly fork: (from: SnapshotOrigin, toTaskId: string) => Effect.Effect<ForkResult, StoreError>
  }
>()("waypoint/stores/SnapshotStore") {}
