/**
 * Errors of progress reporting. Each is raised before anything is published or written.
 */
import { Schema } from "effect"

/** `Progress.update` was given a percentage that is not a finite number from 0 to 100. Nothing was published. */
export class InvalidProgress extends Schema.TaggedError<InvalidProgress>()("InvalidProgress", {
  percent: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `progress ${this.percent} rejected: ${this.reason}`
  }
}

/** The data given to `Progress.log` is not a JSON value. Nothing was published. */
export class LogDataNotSerializable extends Schema.TaggedError<LogDataNotSerializable>()("LogDataNotSerializable", {
  logMessage: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `data of log line "${this.logMessage}" cannot be stored: ${this.reason}`
  }
}
