import { Schema } from "effect"

/**
 * A run of the body reached a recorded model call with another request than the one recorded (another prompt,
 * tools, tool choice or output schema): the body changed, or it builds its prompt from something that is not
 * recorded. Under the rule `onChangedRequest: "fail"` (the default) the task fails with it, as a defect, so that no
 * answer meant for another question is used and no paid call is made behind the user's back.
 */
export class ModelCallChanged extends Schema.TaggedError<ModelCallChanged>()("ModelCallChanged", {
  taskId: Schema.String,
  /** The call's number in the run of the body (0 for the first). */
  call: Schema.Number,
  method: Schema.String
}) {
  override get message() {
    return `ModelCallChanged: model call ${this.call} (${this.method}) of task ${this.taskId} was recorded with another request. Calls are numbered in the order a run of the body makes them: make each prompt from recorded values, do not make a call inside a step or only on some runs, or use onChangedRequest: "callAgain"`
  }
}

/** A recorded model call could not be read back with the schemas of this run (its toolkit or output schema changed). */
export class ModelRecordInvalid extends Schema.TaggedError<ModelRecordInvalid>()("ModelRecordInvalid", {
  taskId: Schema.String,
  key: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `the recorded model call ${this.key} of task ${this.taskId} cannot be read: ${this.issue}`
  }
}
