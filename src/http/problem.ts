/**
 * RFC 9457 problem details: every error answer is `application/problem+json` with a type, a title, the status and,
 * for a client error, what was wrong. A server error carries only an `errorId`, the key of the log line that holds
 * the cause, so no stack trace or internal message reaches a client.
 */
import { Cause, Effect, Option, Schema } from "effect"
import { type HttpFailure, isShownServerError, ShuttingDown, statusByTag } from "./errors.ts"

/** The body of every error answer. */
export const Problem = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Number,
  detail: Schema.optionalKey(Schema.String),
  /** The error's tag, for clients that branch on it. */
  tag: Schema.String,
  /** For a server error: the id of the log line that holds the cause. */
  errorId: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "Problem", description: "An RFC 9457 problem details object." })
export type Problem = typeof Problem.Type

const titles: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable"
}

const problemType = (tag: string) => `urn:effect-waypoint:problem:${tag}`

/** A `Response` holding a problem. */
export const problemResponse = (problem: Problem, headers?: Record<string, string>): Response =>
  new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...headers }
  })

const extraHeaders = (error: HttpFailure): Record<string, string> | undefined => {
  switch (error._tag) {
    case "MethodNotAllowed":
      return { allow: error.allow.join(", ") }
    case "Unauthorized":
      return { "www-authenticate": 'Bearer realm="waypoint"' }
    default:
      return undefined
  }
}

/** The problem answer for a typed failure; a 5xx (but 501) is logged with an id and shows only that id. */
export const failureResponse = (error: HttpFailure, request: Request): Effect.Effect<Response> => {
  const status = statusByTag[error._tag]
  if (status >= 500 && !isShownServerError(error._tag)) {
    return serverError(status, error._tag, Cause.fail(error), request)
  }
  return Effect.succeed(
    problemResponse(
      {
        type: problemType(error._tag),
        title: titles[status] ?? "Error",
        status,
        detail: error.message,
        tag: error._tag
      },
      extraHeaders(error)
    )
  )
}

const serverError = (status: number, tag: string, cause: Cause.Cause<unknown>, request: Request) =>
  Effect.gen(function* () {
    const errorId = crypto.randomUUID()
    yield* Effect.logError("HTTP request failed", cause).pipe(
      Effect.annotateLogs({ errorId, method: request.method, url: request.url })
    )
    return problemResponse({
      type: problemType(tag),
      title: titles[status] ?? "Error",
      status,
      detail: `the server could not answer; quote errorId ${errorId} when reporting it`,
      tag,
      errorId
    })
  })

/** The answer to a request stopped because the app is closing: expected, so not logged. */
export const shuttingDownResponse = (): Response =>
  problemResponse({
    type: problemType("ShuttingDown"),
    title: titles[503] ?? "Error",
    status: 503,
    detail: new ShuttingDown().message,
    tag: "ShuttingDown"
  })

/** The answer for any way a route can end without a response: a typed failure, an interruption, a defect. */
export const causeResponse = (cause: Cause.Cause<HttpFailure>, request: Request): Effect.Effect<Response> => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) return failureResponse(failure.value, request)
  if (Cause.hasInterruptsOnly(cause)) return Effect.sync(shuttingDownResponse)
  return serverError(500, "InternalError", cause, request)
}
