/**
 * What a file under `routes/` declares: each route's method, path, the Schemas of what it reads from a request, its
 * handler and its OpenAPI description. The app registers routes, answers 405 for other methods, and writes the
 * OpenAPI document from this one list, so a new resource is one new file.
 */
import { type Duration, Effect, type Context as EffectContext, Option, Schema } from "effect"
import type { Context } from "hono"
import {
  InvalidKey,
  type ProgressStore,
  type RunTreeStore,
  type Runtime,
  type SnapshotStore,
  type StateManager,
  type StateStore,
  segmentProblem,
  TaskNotFound,
  type TaskStore
} from "../index.ts"
import { type HttpFailure, ServiceNotConfigured } from "./errors.ts"
import { hasControlCharacter } from "./internal/text.ts"
import { Problem } from "./problem.ts"
import { type RequestInput, type RequestSchema, type RequestSchemas, requestInput } from "./request.ts"
import type { AnyHttpTask } from "./task.ts"

/** An answer of an operation, as documented; no schema means no body. */
export interface ResponseDoc {
  readonly description: string
  readonly schema?: Schema.Top | undefined
  /** Default: `application/json` (`application/problem+json` for 4xx and 5xx). */
  readonly contentType?: string | undefined
}

export type ResponseDocs = Readonly<Record<number, ResponseDoc>>

/**
 * One OpenAPI operation. `path` uses OpenAPI templates (`/tasks/{id}`). Its parameters and body are those of the
 * route's `request`, but for `body`: an operation of a route with a path per task gives the Schema its handler decodes
 * that task's body with.
 */
export interface OperationDoc {
  readonly path: string
  readonly operationId: string
  readonly summary: string
  readonly tag: string
  readonly body?: RequestSchema | undefined
  readonly responses: ResponseDocs
}

/** The stores found in the app's context when it was built; a route that needs an absent one answers 501. */
export interface RouteStores {
  /** The runtime's own: it is built in the same context. */
  readonly tasks: TaskStore["Service"]
  readonly state: Option.Option<StateStore["Service"]>
  readonly snapshots: Option.Option<SnapshotStore["Service"]>
  readonly progress: Option.Option<ProgressStore["Service"]>
  readonly trees: Option.Option<RunTreeStore["Service"]>
}

/** What every handler may use. */
export interface RouteContext {
  readonly runtime: Runtime.Runtime<unknown>
  readonly tasks: ReadonlyMap<string, AnyHttpTask>
  readonly stores: RouteStores
  readonly stateManager: Option.Option<StateManager["Service"]>
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
  readonly method: "GET" | "POST" | "PUT" | "DELETE"
  /** Hono syntax: `/tasks/:id`. */
  readonly path: string
  /** Answered without credentials (`/health`). */
  readonly isPublic?: boolean | undefined
  /** What the handler decodes from a request; the OpenAPI document lists the same Schemas. */
  readonly request: RequestSchemas
  /** Usually one operation; a route with a path per task documents each. */
  readonly docs: ReadonlyArray<OperationDoc>
  readonly handle: (c: Context) => Effect.Effect<Response, HttpFailure>
}

/** A route whose handler sees the request only through the Schemas it declares. */
export const defineRoute = <const R extends RequestSchemas>(
  ctx: RouteContext,
  route: Omit<Route, "request" | "handle"> & {
    readonly request: R
    readonly handle: (input: RequestInput<R>) => Effect.Effect<Response, HttpFailure>
  }
): Route => ({
  method: route.method,
  path: route.path,
  isPublic: route.isPublic,
  request: route.request,
  docs: route.docs,
  handle: (c) => route.handle(requestInput(route.request, c, ctx.bodyLimitBytes))
})

/** A problem answer, as documented. */
export const problemDoc = (description: string): ResponseDoc => ({ description, schema: Problem })

/** The 401 answer, documented only where credentials are asked for. */
export const unauthorizedDoc = (ctx: RouteContext): ResponseDocs =>
  ctx.isAuthConfigured ? { 401: problemDoc("Missing or invalid credentials.") } : {}

/** The 501 answer, documented only where the service is missing. */
export const notConfiguredDoc = (service: Option.Option<unknown>, name: string): ResponseDocs =>
  Option.isNone(service) ? { 501: problemDoc(`This server was built without a ${name}.`) } : {}

/** The service, or `ServiceNotConfigured` naming it. */
export const requireService = <A>(
  service: Option.Option<A>,
  name: string,
  hint = "provide it where the app is built (MemoryStore.layer, PgliteStore.layer and PostgresStore.layer have every store)"
): Effect.Effect<A, ServiceNotConfigured> =>
  Option.isSome(service)
    ? Effect.succeed(service.value)
    : Effect.fail(new ServiceNotConfigured({ service: name, hint }))

/** The app's `StateManager`, or `ServiceNotConfigured` saying how to give it one. */
export const requireStateManager = (ctx: RouteContext) =>
  requireService(
    ctx.stateManager,
    "StateManager",
    "give it to the app: makeApp({ runtime, tasks, stateManager: yield* StateManager })"
  )

/** A JSON answer. */
export const json = (body: unknown, status = 200, headers?: Record<string, string>): Response =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } })

/** An answer without a body. */
export const noContent = (status = 204): Response => new Response(null, { status })

/** The check behind `hasControlCharacter`, for Schemas; documented as the same pattern (`\p{Cc}` is C0, DEL and C1). */
export const noControlCharacters = Schema.makeFilter((text: string) => !hasControlCharacter(text), {
  expected: "no control characters",
  toJsonSchema: () => ({ pattern: "^[^\\u0000-\\u001F\\u007F-\\u009F]*$" })
})

/** A name or session: 1 to 255 characters, none of them a control character. */
export const Token = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(255), noControlCharacters)

/** A page size: 1 to 1000. */
export const Limit = Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 1000 }))

/** A positive whole number, as versions are. */
export const Version = Schema.Number.check(
  Schema.isInt(),
  Schema.isBetween({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })
)

/** The path of a task's own routes (`/tasks/:id/...`). */
export const TaskPath = Schema.Struct({ id: Schema.String.annotateKey({ description: "The task's id." }) })

/** The id of a task's path; one no task can have (over 1024 characters, control characters) is not looked up. */
export const taskId = (id: string): Effect.Effect<string, TaskNotFound> =>
  id.length <= 1024 && !hasControlCharacter(id)
    ? Effect.succeed(id)
    : Effect.fail(new TaskNotFound({ taskId: id.slice(0, 255) }))

/**
 * A value from the request that becomes one storage key segment (a session id, a checkpoint id or name). Checked
 * here as well as by the `StateManager`, so that the problem never echoes more than 255 characters of it.
 */
export const keySegment = (value: string): Effect.Effect<string, InvalidKey> => {
  const reason = segmentProblem(value)
  return reason === undefined
    ? Effect.succeed(value)
    : Effect.fail(new InvalidKey({ key: value.slice(0, 255), reason }))
}
