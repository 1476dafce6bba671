/** Snapshots of task data, the snapshot plugin, the StateManager with its branch snapshots, and payload codecs. */
export type { BranchSnapshotInput } from "./BranchSnapshot.ts"
export { BranchSnapshot } from "./BranchSnapshot.ts"
export {
  CheckpointNotFound,
  CodecMismatch,
  DecryptionFailed,
  ForkInvalid,
  SessionNotFound,
  SnapshotCorrupted,
  SnapshotForkConflict,
  SnapshotInvalid,
  SnapshotNotFound,
  SnapshotNotSerializable,
  SnapshotTooLarge
} from "./errors.ts"
export * as PayloadCodec from "./PayloadCodec.ts"
export type { SnapshotPluginOptions } from "./SnapshotPlugin.ts"
export * as SnapshotPlugin from "./SnapshotPlugin.ts"
export type {
  PolicyEvent,
  ReadError as SnapshotReadError,
  SaveError as SnapshotSaveError,
  Snapshot,
  SnapshotPage,
  SnapshotPolicy,
  SnapshotSchema,
  SnapshotsApi,
  SnapshotsOptions
} from "./Snapshots.ts"
export { forkSnapshot, Snapshots } from "./Snapshots.ts"
export type { CheckpointInfo, StateManagerOptions } from "./StateManager.ts"
export { StateManager } from "./StateManager.ts"
export * as TreeCheckpoints from "./TreeCheckpoints.ts"
