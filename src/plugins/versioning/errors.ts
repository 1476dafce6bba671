/**
 * What can go wrong reading or writing versioned data. A failure on read means the stored value was not
 * returned and is left as it was.
 */
import { Schema } from "effect"

/** A stored value records a version this code does not know (written by newer code, or not a version at all). */
export class UnknownDataVersion extends Schema.TaggedError<UnknownDataVersion>()("UnknownDataVersion", {
  version: Schema.Number,
  currentVersion: Schema.Number
}) {
  override get message() {
    return `data version ${this.version} is unknown: this code knows versions 1 to ${this.currentVersion}`
  }
}

/** A migration from one version to the next failed, or gave a value that does not match the next version. */
export class MigrationFailed extends Schema.TaggedError<MigrationFailed>()("MigrationFailed", {
  fromVersion: Schema.Number,
  toVersion: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `migration from data version ${this.fromVersion} to ${this.toVersion} failed: ${this.reason}`
  }
}

/** A value does not match the Schema of its version (a stored value on read, a new value on write). */
export class InvalidVersionedData extends Schema.TaggedError<InvalidVersionedData>()("InvalidVersionedData", {
  version: Schema.Number,
  issue: Schema.String
}) {
  override get message() {
    return `data does not match version ${this.version}: ${this.issue}`
  }
}
