/**
 * What a file under `routes/` declares: each route's method, path, handler and OpenAPI description. The app
 * registers routes, answers 405 for other methods, and writes the OpenAPI document from this one list, so a new
 * resource is one new file.
 */
import { type Duration, Effect, type Context as EffectContext, type Schema } from "effect"
import type { Context } from "hono"
import { type Runtime, TaskNotFound } from "../index.ts"
import type { HttpFailure } from "./errors.ts"
import { Problem } from "./problem.ts"
import type { AnyHttpTask } from "./task.ts"

/** A parameter of an operation, as documented. */
export interface ParameterDoc {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly required: boolean
  readonly description: string
  readonly schema: Schema.Top
}

/** An answer of an operation, as documented; no schema means no body. */
export interface ResponseDoc {
  readonly description: string
  readonly schema?: Schema.Top | undefined
  /** Default: `application/json` (`application/problem+json` for 4xx and 5xx). */
  readonly contentType?: string | undefined
}

export type ResponseDocs = Readonly<Record<number, ResponseDoc>>

/** One OpenAPI operation. `path` uses OpenAPI templates (`/tasks/{id}`). */
export interface OperationDoc {
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly tag: string
  readonly parameters?: ReadonlyArray<ParameterDoc> | undefined
  readonly requestBody?: Schema.Top | undefined
  readonly responses: ResponseDocs
}

/** What every handler may use. */
export interface RouteContext {
  readonly runtime: Runtime.Runtime<unknown>
  readonly tasks: ReadonlyMap<string, AnyHttpTask>
  readonly bodyLimitBytes: number
  readonly heartbeat: Duration.Duration
  /** The services streams run with once their response has left the handler. */
  readonly services: EffectContext.Context<never>
  /** Aborted when the app's Scope closes: open event streams end. */
  readonly closing: AbortSignal
  /** Every route of the app, for `/openapi.json`. */
  readonly routes: () => ReadonlyArray<Route>
  readonly isAuthConfigured: boolean
  /** Credentials are a bearer token, which the OpenAPI document can describe. */
  readonly isBearerAuth: boolean
}

export interface Route {
  readonly method: "GET" | "POST"
  /** Hono syntax: `/tasks/:id`. */
  readonly path: string
  /** Answered without credentials (`/health`). */
  readonly isPublic?: boolean | undefined
  /** Usually one operation; a route with a path per task documents each. */
  readonly docs: ReadonlyArray<OperationDoc>
  readonly handle: (c: Context) => Effect.Effect<Response, HttpFailure>
}

/** A problem answer, as documented. */
export const problemDoc = (description: string): ResponseDoc => ({ description, schema: Problem })

/** The 401 answer, documented only where credentials are asked for. */
export const unauthorizedDoc = (ctx: RouteContext): ResponseDocs =>
  ctx.isAuthConfigured ? { 401: problemDoc("Missing or invalid credentials.") } : {}

/** A JSON answer. */
export const json = (body: unknown, status = 200, headers?: Record<string, string>): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/** True when the text holds a control character (which no name, id or session may). */
export const hasControlCharacter = (text: string): boolean => /\p{Cc}/u.test(text)

/** The `:id` of the path; an id no task can have (over 1024 characters, control characters) is not looked up. */
export const taskIdParam = (c: Context): Effect.Effect<string, TaskNotFound> => {
  const id = c.req.param("id") ?? ""
  return id.length <= 1024 && !hasControlCharacter(id)
    ? Effect.succeed(id)
    : Effect.fail(new TaskNotFound({ taskId: id.slice(0, 255) }))
}
