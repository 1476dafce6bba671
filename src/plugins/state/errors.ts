/**
 * Errors of task state, steps, pauses and signals. Each is raised before anything is written.
 */
import { Schema } from "effect"

/** A value given to task state cannot be stored as JSON. Nothing was written. */
export class StateNotSerializable extends Schema.TaggedError<StateNotSerializable>()("StateNotSerializable", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `state key "${this.key}" cannot be stored: ${this.reason}`
  }
}

/** A value is larger, as JSON, than the plugin's size limit. Nothing was written. */
export class StateTooLarge extends Schema.TaggedError<StateTooLarge>()("StateTooLarge", {
  key: Schema.String,
  sizeBytes: Schema.Number,
  limitBytes: Schema.Number
}) {
  override get message() {
    return `state key "${this.key}" is ${this.sizeBytes} bytes as JSON, over the limit of ${this.limitBytes}`
  }
}

/** A stored value no longer matches the task's state Schema. */
export class StateDecodeError extends Schema.TaggedError<StateDecodeError>()("StateDecodeError", {
  key: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `stored state key "${this.key}" does not match its Schema: ${this.issue}`
  }
}

/** Two steps of one run used the same name. */
export class DuplicateStep extends Schema.TaggedError<DuplicateStep>()("DuplicateStep", {
  name: Schema.String
}) {
  override get message() {
    return `step "${this.name}" is used twice in one run; step names must be unique`
  }
}

/** A step's result could not be encoded for the store (or a stored one no longer decodes). */
export class StepResultInvalid extends Schema.TaggedError<StepResultInvalid>()("StepResultInvalid", {
  name: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `step "${this.name}": ${this.issue}`
  }
}

/**
 * A signal's payload does not match the Schema `waitForSignal` reads it with. Declare the task's `signals` (`task({
 * signals: { name: Schema } })`) so such a payload is refused when it is sent, instead of failing the waiting task.
 */
export class SignalPayloadInvalid extends Schema.TaggedError<SignalPayloadInvalid>()("SignalPayloadInvalid", {
  signal: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `the payload of signal "${this.signal}" does not match the Schema it is read with: ${this.issue}`
  }
}

/** `waitForSignal` reached its timeout before the signal arrived. */
export class SignalTimeout extends Schema.TaggedError<SignalTimeout>()("SignalTimeout", {
  signal: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `no signal "${this.signal}" within ${this.timeoutMillis} ms`
  }
}

/** A value given to typed task state does not match its field's Schema. Nothing was written. */
export class StateInvalidValue extends Schema.TaggedError<StateInvalidValue>()("StateInvalidValue", {
  key: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `state key "${this.key}" does not accept this value: ${this.issue}`
  }
}

/**
 * `modify` lost the compare-and-set race on every try: other processes kept writing the key. Nothing was written
 * by this call.
 */
export class StateConflict extends Schema.TaggedError<StateConflict>()("StateConflict", {
  scope: Schema.String,
  key: Schema.String,
  attempts: Schema.Number
}) {
  override get message() {
    return `state key "${this.key}" of ${this.scope}: gave up after ${this.attempts} conflicting writes`
  }
}

/**
 * A task started outside a session used `TaskState.scope("session")`: it has no session whose state it could share.
 * Nothing was read or written. Submit it with `{ session }`, or through `runtime.session(id)`.
 */
export class NotInSession extends Schema.TaggedError<NotInSession>()("NotInSession", {
  taskId: Schema.String,
  taskName: Schema.String
}) {
  override get message() {
    return `task "${this.taskName}" (${this.taskId}) uses TaskState.scope("session") but was not started in a session`
  }
}
