/**
 * The errors an HTTP request can end with, and the one table that gives each its status. A failure whose status is
 * 5xx (but 501, which only names a service the server was built without) never shows its message to the client: it
 * is logged with an id, and the client sees only the id.
 */
import { Schema } from "effect"
import type {
  CheckpointNotFound,
  CodecMismatch,
  DecryptionFailed,
  ForkInvalid,
  InvalidCursor,
  InvalidKey,
  InvalidTaskInput,
  InvalidTransition,
  MaxInstancesReached,
  SessionNotFound,
  SignalRejected,
  SnapshotCorrupted,
  SnapshotForkConflict,
  SnapshotNotFound,
  SnapshotNotSerializable,
  SnapshotTooLarge,
  StoreError,
  StoreMissing,
  TaskIdTaken,
  TaskNotFound,
  UnknownTask
} from "../index.ts"

/** The request is malformed: bad JSON, a bad query parameter, a bad header. */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  detail: Schema.String
}) {
  override get message() {
    return this.detail
  }
}

/** The request carries no valid credentials. */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {}) {
  override get message() {
    return "missing or invalid credentials"
  }
}

/** No route answers this path. */
export class RouteNotFound extends Schema.TaggedError<RouteNotFound>()("RouteNotFound", {
  path: Schema.String
}) {
  override get message() {
    return `no route for ${this.path}`
  }
}

/** The path exists but does not answer this method. */
export class MethodNotAllowed extends Schema.TaggedError<MethodNotAllowed>()("MethodNotAllowed", {
  method: Schema.String,
  allow: Schema.Array(Schema.String)
}) {
  override get message() {
    return `method ${this.method} is not allowed here; use ${this.allow.join(", ")}`
  }
}

/** An `Idempotency-Key` of a task was used before with a different input or session. Nothing new was started. */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()("IdempotencyKeyReused", {
  taskId: Schema.String
}) {
  override get message() {
    return `this Idempotency-Key already started task ${this.taskId} with a different request`
  }
}

/** The request body is larger than the configured limit. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  limitBytes: Schema.Number
}) {
  override get message() {
    return `the request body exceeds ${this.limitBytes} bytes`
  }
}

/** The request body is not `application/json`. */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()("UnsupportedMediaType", {
  contentType: Schema.String
}) {
  override get message() {
    return `expected an application/json body in UTF-8, got "${this.contentType}"`
  }
}

/** A signal was sent to a task that has ended (completed, failed or cancelled); nothing was delivered. */
export class TaskEnded extends Schema.TaggedError<TaskEnded>()("TaskEnded", {
  taskId: Schema.String,
  status: Schema.String,
  signal: Schema.String
}) {
  override get message() {
    return `task ${this.taskId} has ended (${this.status}): signal "${this.signal}" was not delivered`
  }
}

/** The route needs a service (a store, the StateManager) that the app was built without; `hint` says how to add it. */
export class ServiceNotConfigured extends Schema.TaggedError<ServiceNotConfigured>()("ServiceNotConfigured", {
  service: Schema.String,
  hint: Schema.String
}) {
  override get message() {
    return `this server has no ${this.service}, so this route is not available: ${this.hint}`
  }
}

/** The app is shutting down and stopped this request. */
export class ShuttingDown extends Schema.TaggedError<ShuttingDown>()("ShuttingDown", {}) {
  override get message() {
    return "the server is shutting down"
  }
}

/** The shortest bearer token accepted: shorter ones can be guessed by trying. */
export const MIN_BEARER_TOKEN_LENGTH = 16

/** The longest bearer token accepted: servers refuse request headers much longer (Node: 16 KiB for all of them). */
export const MAX_BEARER_TOKEN_LENGTH = 4096

/**
 * `makeApp` was given a bearer token that no client can send in an `Authorization` header, or one short enough to be
 * guessed. Nothing was served. The message says what is wrong without repeating the token.
 */
export class InvalidBearerToken extends Schema.TaggedError<InvalidBearerToken>()("InvalidBearerToken", {
  reason: Schema.String
}) {
  override get message() {
    return (
      `auth.bearer cannot be used: ${this.reason}. A bearer token is ${MIN_BEARER_TOKEN_LENGTH} to ` +
      `${MAX_BEARER_TOKEN_LENGTH} characters of A-Z a-z 0-9 - . _ ~ + /, optionally ending with "=" ` +
      "(RFC 6750 b64token), such as crypto.randomUUID()"
    )
  }
}

/** Every failure a route may end with. */
export type HttpFailure =
  | InvalidRequest
  | Unauthorized
  | RouteNotFound
  | MethodNotAllowed
  | IdempotencyKeyReused
  | PayloadTooLarge
  | UnsupportedMediaType
  | ShuttingDown
  | TaskEnded
  | ServiceNotConfigured
  | InvalidTaskInput
  | TaskNotFound
  | UnknownTask
  | MaxInstancesReached
  | InvalidTransition
  | SignalRejected
  | StoreError
  | StoreMissing
  | TaskIdTaken
  | InvalidCursor
  | SnapshotNotFound
  | SnapshotForkConflict
  | SnapshotNotSerializable
  | SnapshotTooLarge
  | SnapshotCorrupted
  | CodecMismatch
  | DecryptionFailed
  | InvalidKey
  | SessionNotFound
  | CheckpointNotFound
  | ForkInvalid
  | ApprovalNotFound

/** The status of each failure: the only place that decides it. */
export const statusByTag: { readonly [Tag in HttpFailure["_tag"]]: number } = {
  InvalidRequest: 400,
  InvalidTaskInput: 400,
  InvalidCursor: 400,
  // The runtime refuses a signal for an ended task, of a name the task does not declare, or with a payload that does
  // not match the signal's Schema; the signal route answers the first as `TaskEnded`, so what is left is the request.
  SignalRejected: 400,
  InvalidKey: 400,
  SnapshotNotSerializable: 400,
  ForkInvalid: 400,
  Unauthorized: 401,
  RouteNotFound: 404,
  TaskNotFound: 404,
  UnknownTask: 404,
  SnapshotNotFound: 404,
  SessionNotFound: 404,
  CheckpointNotFound: 404,
  ApprovalNotFound: 404,
  MethodNotAllowed: 405,
  IdempotencyKeyReused: 409,
  TaskIdTaken: 409,
  MaxInstancesReached: 409,
  InvalidTransition: 409,
  TaskEnded: 409,
  SnapshotForkConflict: 409,
  PayloadTooLarge: 413,
  SnapshotTooLarge: 413,
  UnsupportedMediaType: 415,
  // A stored record that fails its checks, or was written with other codecs or another key, is the server's data
  // or configuration, not the request: logged with an errorId; its message, which names the stored key, is not shown.
  SnapshotCorrupted: 500,
  CodecMismatch: 500,
  DecryptionFailed: 500,
  ServiceNotConfigured: 501,
  StoreMissing: 501,
  StoreError: 503,
  ShuttingDown: 503
}

/** A 5xx whose message is shown: it names what the server lacks, never a cause, and is not logged. */
export const isShownServerError = (tag: HttpFailure["_tag"]): boolean =>
  tag === "ServiceNotConfigured" || tag === "StoreMissing"

/** No tool call of the task waits for a decision under this approval id: there was none, or it was decided. */
export class ApprovalNotFound extends Schema.TaggedError<ApprovalNotFound>()("ApprovalNotFound", {
  taskId: Schema.String,
  approvalId: Schema.String
}) {
  override get message() {
    return `no tool call of task ${this.taskId} waits for a decision under approval id ${this.approvalId}`
  }
}
