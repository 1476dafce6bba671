/**
 * The saved state of a multi-agent orchestration: its branches, which are running, done or waiting on others,
 * their results and their parent/child links. Every saved snapshot carries a SHA-256 checksum of its content,
 * checked when it is loaded, so a damaged snapshot is an error and never data.
 */
import { Effect, Schema } from "effect"
import { SnapshotCorrupted } from "./errors.ts"
import { checksumOf } from "./internal/checksum.ts"

const BranchIds = Schema.Array(Schema.String)

/** One orchestration's branches at one moment, with the checksum written when it was saved. */
export const BranchSnapshot = Schema.Struct({
  sessionId: Schema.String,
  /** Epoch milliseconds from the runtime's `Clock`. */
  timestamp: Schema.Number,
  /** Each branch's own data, by branch id. */
  branches: Schema.Record(Schema.String, Schema.Json),
  activeBranches: BranchIds,
  completedBranches: BranchIds,
  /** For each waiting branch, the branches it waits on. */
  waiting: Schema.Record(Schema.String, BranchIds),
  /** Each finished branch's result, by branch id. */
  results: Schema.Record(Schema.String, Schema.Json),
  /** For each parent branch, its children. */
  children: Schema.Record(Schema.String, BranchIds),
  /** For each child branch, its parent. */
  parents: Schema.Record(Schema.String, Schema.String),
  metadata: Schema.Record(Schema.String, Schema.Json),
  /** SHA-256 (lower-case hex) of the snapshot's canonical JSON (sorted keys) without this field. */
  checksum: Schema.String
})
export type BranchSnapshot = typeof BranchSnapshot.Type

/** A branch snapshot before it is saved: the checksum is computed on save, and the time taken from the Clock. */
export type BranchSnapshotInput = Omit<BranchSnapshot, "checksum" | "timestamp"> & {
  readonly timestamp?: number | undefined
}

/** `snapshot` with its checksum computed over everything else. */
export const withChecksum = (snapshot: Omit<BranchSnapshot, "checksum">): Effect.Effect<BranchSnapshot> =>
  Effect.map(checksumOf(snapshot as unknown as Schema.JsonObject), (checksum) => ({ ...snapshot, checksum }))

/** Succeeds with `snapshot` when its checksum matches its content; `key` names it in the error. */
export const verifyChecksum = (
  key: string,
  snapshot: BranchSnapshot
): Effect.Effect<BranchSnapshot, SnapshotCorrupted> =>
  Effect.flatMap(checksumOf(snapshot as unknown as Schema.JsonObject), (actual) =>
    actual === snapshot.checksum
      ? Effect.succeed(snapshot)
      : Effect.fail(new SnapshotCorrupted({ key, reason: "its checksum does not match its content" }))
  )
