/**
 * What can go wrong with snapshots and with the `StateManager`. Every failure of a write is raised before
 * anything is written; every failure of a read means the stored value was not returned.
 */
import { Schema } from "effect"

/** A snapshot is over the size limit once encoded as JSON. Nothing was written. */
export class SnapshotTooLarge extends Schema.TaggedError<SnapshotTooLarge>()("SnapshotTooLarge", {
  /** The task (or session) whose snapshot it is. */
  id: Schema.String,
  sizeBytes: Schema.Number,
  limitBytes: Schema.Number
}) {
  override get message() {
    return `snapshot of "${this.id}" is ${this.sizeBytes} bytes as JSON, over the limit of ${this.limitBytes}`
  }
}

/** A value cannot be stored as JSON and read back the same (a function, a cycle, a class instance...). */
export class SnapshotNotSerializable extends Schema.TaggedError<SnapshotNotSerializable>()("SnapshotNotSerializable", {
  /** The task (or session) whose snapshot it is. */
  id: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `snapshot of "${this.id}" cannot be stored: ${this.reason}`
  }
}

/** The task has no snapshot with this version (never saved, or pruned). */
export class SnapshotNotFound extends Schema.TaggedError<SnapshotNotFound>()("SnapshotNotFound", {
  taskId: Schema.String,
  version: Schema.Number
}) {
  override get message() {
    return `task "${this.taskId}" has no snapshot version ${this.version}`
  }
}

/**
 * A snapshot does not match the Schema it is read or saved with. On a read, `version` names the stored
 * snapshot, which is left as it was.
 */
export class SnapshotInvalid extends Schema.TaggedError<SnapshotInvalid>()("SnapshotInvalid", {
  taskId: Schema.String,
  version: Schema.optionalKey(Schema.Number),
  issue: Schema.String
}) {
  override get message() {
    const which = this.version === undefined ? "" : ` version ${this.version}`
    return `snapshot${which} of task "${this.taskId}" does not match its Schema: ${this.issue}`
  }
}

/** A snapshot cannot be forked into a task that already has snapshots. Nothing was written. */
export class SnapshotForkConflict extends Schema.TaggedError<SnapshotForkConflict>()("SnapshotForkConflict", {
  taskId: Schema.String
}) {
  override get message() {
    return `task "${this.taskId}" already has snapshots, so a fork cannot become its version 1`
  }
}

// Defined with the store contract, whose reads fail with it too (stores do not import plugins).
export { SnapshotCorrupted } from "../../stores/SnapshotStore.ts"

/** The `StateManager` has no session with this id. */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String
}) {
  override get message() {
    return `no session "${this.sessionId}"`
  }
}

/** The `StateManager` has no checkpoint with this id. */
export class CheckpointNotFound extends Schema.TaggedError<CheckpointNotFound>()("CheckpointNotFound", {
  checkpointId: Schema.String
}) {
  override get message() {
    return `no checkpoint "${this.checkpointId}"`
  }
}

/**
 * A stored value was written with other codecs than the reader uses (say gzip, read without any). Each side is
 * named as its codecs joined by `+`, or `none`.
 */
export class CodecMismatch extends Schema.TaggedError<CodecMismatch>()("CodecMismatch", {
  key: Schema.String,
  expected: Schema.String,
  found: Schema.String
}) {
  override get message() {
    return `stored value "${this.key}" was written with codec "${this.found}", but is read with "${this.expected}"`
  }
}

/** An encrypted value could not be decrypted: the key is not the one it was written with, or it was altered. */
export class DecryptionFailed extends Schema.TaggedError<DecryptionFailed>()("DecryptionFailed", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `stored value "${this.key}" could not be decrypted: ${this.reason}`
  }
}

/** A fork that cannot be made as asked: a replaced path that is not a branch of the tree, or an id already taken. */
export class ForkInvalid extends Schema.TaggedError<ForkInvalid>()("ForkInvalid", {
  checkpointId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot fork from ${this.checkpointId}: ${this.reason}`
  }
}
