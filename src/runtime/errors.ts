/**
 * The typed errors of the task runtime. Each says what happened and carries what a caller needs to act on it.
 */
import { Schema } from "effect"

/** A task's input did not match its Schema. The body never started; nothing was stored for a new task. */
export class InvalidTaskInput extends Schema.TaggedError<InvalidTaskInput>()("InvalidTaskInput", {
  taskName: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `invalid input for task "${this.taskName}": ${this.issue}`
  }
}

/** A task's output could not be encoded with its output Schema, so it could not be stored. */
export class InvalidTaskOutput extends Schema.TaggedError<InvalidTaskOutput>()("InvalidTaskOutput", {
  taskName: Schema.String,
  issue: Schema.String
}) {
  override get message() {
    return `invalid output from task "${this.taskName}": ${this.issue}`
  }
}

/** An attempt ran longer than the task's `timeout` and was interrupted. */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  taskId: Schema.String,
  taskName: Schema.String,
  attempt: Schema.Number,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `task "${this.taskName}" (${this.taskId}) attempt ${this.attempt} timed out after ${this.timeoutMillis} ms`
  }
}

/**
 * The task had not ended by its deadline (its own, or its parent's: a child's is no later). The attempt running then was
 * interrupted, or none started; it is not retried.
 */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  taskId: Schema.String,
  taskName: Schema.String,
  /** Epoch milliseconds. */
  deadline: Schema.Number
}) {
  override get message() {
    return `task "${this.taskName}" (${this.taskId}) did not end by its deadline, ${new Date(this.deadline).toISOString()}`
  }
}

/**
 * The body ended interrupted by itself (it ran `Effect.interrupt`, or joined a fiber that was interrupted), not by
 * this runtime's cancel, pause, shutdown or lost lease. It is a failure of the attempt, retried by the task's Schedule.
 */
export class TaskInterrupted extends Schema.TaggedError<TaskInterrupted>()("TaskInterrupted", {
  taskId: Schema.String,
  taskName: Schema.String,
  attempt: Schema.Number
}) {
  override get message() {
    return `task "${this.taskName}" (${this.taskId}) attempt ${this.attempt} was interrupted from inside its body`
  }
}

/** The task was cancelled before it finished. */
export class TaskCancelled extends Schema.TaggedError<TaskCancelled>()("TaskCancelled", {
  taskId: Schema.String
}) {
  override get message() {
    return `task ${this.taskId} was cancelled`
  }
}

/** The task failed with an error that is only known in its stored form (it ran elsewhere, or it was a defect). */
export class TaskFailed extends Schema.TaggedError<TaskFailed>()("TaskFailed", {
  taskId: Schema.String,
  errorTag: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    // an error may have no message: then the tag alone, not a dangling colon
    const reason = this.reason === "" ? "" : `: ${this.reason}`
    return `task ${this.taskId} failed with ${this.errorTag}${reason}`
  }
}

/** `maxParallel` instances of the task already run in the session and the caller asked not to wait. */
export class MaxInstancesReached extends Schema.TaggedError<MaxInstancesReached>()("MaxInstancesReached", {
  taskName: Schema.String,
  sessionId: Schema.String,
  maxParallel: Schema.Number
}) {
  override get message() {
    return `task "${this.taskName}" already runs ${this.maxParallel} time(s) in session "${this.sessionId}"`
  }
}

/** No task with this id is in the store. */
export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()("TaskNotFound", {
  taskId: Schema.String
}) {
  override get message() {
    return `no task with id ${this.taskId}`
  }
}

/** A stored task names a task definition that this runtime does not know. */
export class UnknownTask extends Schema.TaggedError<UnknownTask>()("UnknownTask", {
  taskName: Schema.String
}) {
  override get message() {
    return `no task named "${this.taskName}" is registered with this runtime`
  }
}

/** `result(timeout)` gave up waiting; the task itself goes on. */
export class ResultTimeout extends Schema.TaggedError<ResultTimeout>()("ResultTimeout", {
  taskId: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message() {
    return `no result for task ${this.taskId} within ${this.timeoutMillis} ms`
  }
}

/**
 * A signal could not be delivered: the task has ended, it declares its signals and not this one, or the payload does
 * not match the signal's Schema. Nothing was stored.
 */
export class SignalRejected extends Schema.TaggedError<SignalRejected>()("SignalRejected", {
  taskId: Schema.String,
  signal: Schema.String,
  /**
   * `TaskEnded`: nothing waits any more; `InvalidPayload`: the payload does not match the signal's Schema;
   * `UnknownSignal`: the task declares its signals, and not this one.
   */
  cause: Schema.Literals(["TaskEnded", "InvalidPayload", "UnknownSignal"]),
  reason: Schema.String
}) {
  override get message() {
    return `signal "${this.signal}" to task ${this.taskId} was refused: ${this.reason}`
  }
}

/** The task's status does not allow what was asked (pausing or resuming a finished task). */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()("InvalidTransition", {
  taskId: Schema.String,
  status: Schema.String,
  action: Schema.String
}) {
  override get message() {
    return `cannot ${this.action} task ${this.taskId}: it is ${this.status}`
  }
}

/** An idempotency key already started a task of another name; nothing new was started. */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  idempotencyKey: Schema.String,
  taskId: Schema.String,
  taskName: Schema.String
}) {
  override get message() {
    return `idempotency key "${this.idempotencyKey}" already started task ${this.taskId} ("${this.taskName}")`
  }
}

/**
 * The runtime's context lacks a store that an operation needs: `signal` needs a `StepStore` (the durable mailbox).
 * `MemoryStore.layer`, `PgliteStore.layer` and `PostgresStore.layer` provide every store; `MemoryTaskStore.layer`
 * alone does not.
 */
export class StoreMissing extends Schema.TaggedError<StoreMissing>()("StoreMissing", {
  store: Schema.String,
  operation: Schema.String
}) {
  override get message() {
    return `${this.operation} needs a ${this.store} in the runtime's context (MemoryStore.layer, PgliteStore.layer and PostgresStore.layer provide one)`
  }
}

/** What awaiting a task can fail with besides its body's own error: what the runtime reports of its end. */
export type TaskEndError =
  | InvalidTaskInput
  | InvalidTaskOutput
  | TaskTimeout
  | DeadlineExceeded
  | TaskInterrupted
  | TaskCancelled
  | TaskFailed
  | TaskNotFound

/**
 * A child started again under its key (the body ran again, after a pause, a crash or a signal) with another task or
 * another input than the child that key names. Nothing was started.
 */
export class ChildConflict extends Schema.TaggedError<ChildConflict>()("ChildConflict", {
  parentId: Schema.String,
  key: Schema.String,
  /** The child the key names. */
  childId: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `child "${this.key}" of task ${this.parentId} is task ${this.childId}, and ${this.reason}`
  }
}

/** A child the parent waits for failed: its stored error's tag and message. */
export class ChildFailed extends Schema.TaggedError<ChildFailed>()("ChildFailed", {
  childId: Schema.String,
  key: Schema.String,
  errorTag: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    // a child's error may have no message: then the tag alone, not a dangling colon
    const reason = this.reason === "" ? "" : `: ${this.reason}`
    return `child "${this.key}" (${this.childId}) failed with ${this.errorTag}${reason}`
  }
}

/** A child the parent waits for was cancelled (by someone else, or by a `first` wait another child won). */
export class ChildCancelled extends Schema.TaggedError<ChildCancelled>()("ChildCancelled", {
  childId: Schema.String,
  key: Schema.String
}) {
  override get message() {
    return `child "${this.key}" (${this.childId}) was cancelled`
  }
}
