/**
 * Errors shared by every store. A driver's own exception never escapes a store: it becomes a `StoreError`
 * naming the operation, and a write refused because another attempt owns the task becomes `LeaseLost`.
 */
import { Predicate, Schema } from "effect"

/** The store could not carry out an operation (a driver error, a lost connection). */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message() {
    // The cause's own message says why (a closed store says what to do), without opening the cause.
    const cause = this.cause
    const why = Predicate.hasProperty(cause, "message") && Predicate.isString(cause.message) ? cause.message : ""
    return why === ""
      ? `store operation "${this.operation}" failed`
      : `store operation "${this.operation}" failed: ${why}`
  }
}

/**
 * `create` was given an id another task already has (with an idempotency key some task holds, it would have returned
 * that task instead). Nothing was written; the task with that id is unchanged.
 */
export class TaskIdTaken extends Schema.TaggedError<TaskIdTaken>()("TaskIdTaken", {
  taskId: Schema.String
}) {
  override get message() {
    return `task ${this.taskId}: another task already has this id`
  }
}

/** `list` was given a cursor that is not one a page of this store gave (a client's typing, another store's). */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  cursor: Schema.String
}) {
  override get message() {
    return "not a cursor a page of this store gave"
  }
}

/** Another process asked for this running task's cancel (`TaskStore.requestCancel`). */
export class CancelRequested extends Schema.TaggedError<CancelRequested>()("CancelRequested", {
  taskId: Schema.String
}) {
  override get message() {
    return `task ${this.taskId}: a cancel was asked`
  }
}

/** Another process asked for this running task's pause (`TaskStore.requestPause`). */
export class PauseRequested extends Schema.TaggedError<PauseRequested>()("PauseRequested", {
  taskId: Schema.String
}) {
  override get message() {
    return `task ${this.taskId}: a pause was asked`
  }
}

/** A write carried a fencing token that is no longer current: another attempt owns the task now. */
export class LeaseLost extends Schema.TaggedError<LeaseLost>()("LeaseLost", {
  taskId: Schema.String,
  token: Schema.Number
}) {
  override get message() {
    return `task ${this.taskId}: lease with token ${this.token} is no longer held`
  }
}

/**
 * A store call after the store was closed: its layer's scope has ended (which closes the connection it opened, or
 * ends a memory store), or the client given to it was closed by its owner. The cause of a `StoreError`; no retry can
 * succeed.
 */
export class StoreClosed extends Schema.TaggedError<StoreClosed>()("StoreClosed", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message() {
    return `the store was closed (its layer's scope ended, or the client given to it was closed): provide the layer around the whole program that uses the runtime`
  }
}
