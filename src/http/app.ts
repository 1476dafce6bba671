/**
 * A Hono app over a Runtime: start, list, read, pause, resume, signal and cancel tasks, follow their events as
 * Server-Sent Events, read their state and snapshots, fork them, read their model usage and decide the tool calls
 * they wait on, manage `StateManager` sessions, and read the OpenAPI document; and a live dashboard at `/ui`. Every
 * request runs as a fiber of the app's Scope with the services `makeApp` was run with, so closing that Scope stops
 * in-flight requests and ends open event streams; the app keeps no global state.
 */
import { Cause, Duration, Effect, FiberSet, Option, type Scope } from "effect"
import { type Context, Hono, type MiddlewareHandler } from "hono"
import { cors } from "hono/cors"
import {
  ProgressStore,
  RunTreeStore,
  type Runtime,
  SnapshotStore,
  type StateManager,
  StateStore,
  TaskStore
} from "../index.ts"
import { type HttpFailure, type InvalidBearerToken, MethodNotAllowed, RouteNotFound, Unauthorized } from "./errors.ts"
import { checkAuth, isAuthorized } from "./internal/auth.ts"
import { causeResponse, failureResponse, shuttingDownResponse } from "./problem.ts"
import type { Route, RouteContext } from "./route.ts"
import { controlRoutes } from "./routes/control.ts"
import { eventRoutes } from "./routes/events.ts"
import { logRoutes } from "./routes/logs.ts"
import { metaRoutes } from "./routes/meta.ts"
import { modelRoutes } from "./routes/models.ts"
import { sessionRoutes } from "./routes/sessions.ts"
import { snapshotRoutes } from "./routes/snapshots.ts"
import { stateRoutes } from "./routes/state.ts"
import { taskRoutes } from "./routes/tasks.ts"
import { treeRoutes } from "./routes/trees.ts"
import type { AnyHttpTask, HttpTask } from "./task.ts"
import { dashboardRoutes } from "./ui/routes.ts"

/**
 * How the app checks credentials: a fixed bearer token, or a function of the request. A bearer token is 16 to 4096
 * characters of `A-Z a-z 0-9 - . _ ~ + /`, optionally ending with `=` (RFC 6750), such as `crypto.randomUUID()`.
 */
export type Auth = { readonly bearer: string } | { readonly verify: (request: Request) => Promise<boolean> | boolean }

/** The options of Hono's CORS middleware. */
export type CorsOptions = NonNullable<Parameters<typeof cors>[0]>

/** What `makeApp` serves and how. */
export interface AppOptions<P> {
  readonly runtime: Runtime.Runtime<P>
  /** The tasks that `POST /tasks/:name` may start, by name. */
  readonly tasks: ReadonlyArray<HttpTask<NoInfer<P>>>
  /**
   * When set, every route but `/health` answers 401 without valid credentials. A bearer token no client could send
   * (a space in it, too short) fails `makeApp` with `InvalidBearerToken`.
   */
  readonly auth?: Auth | undefined
  /** Off by default; `true` allows any origin. */
  readonly cors?: boolean | CorsOptions | undefined
  /** The largest request body read, counted on the bytes actually received. Default: 1 MiB. */
  readonly bodyLimitBytes?: number | undefined
  /** How often an idle event stream sends a comment line, so proxies keep it open. Default: 15 seconds. */
  readonly heartbeat?: Duration.Input | undefined
  /** Serves `/sessions` and `/checkpoints` over it; without it those routes answer 501. */
  readonly stateManager?: StateManager["Service"] | undefined
  /**
   * Serves the live dashboard at `/ui`: tasks, their trees and controls, in a page that asks for the bearer token
   * when the API needs one (the page itself holds no data and is answered without credentials). Default: true.
   */
  readonly dashboard?: boolean | undefined
}

const resources: ReadonlyArray<(ctx: RouteContext) => ReadonlyArray<Route>> = [
  metaRoutes,
  taskRoutes,
  controlRoutes,
  stateRoutes,
  snapshotRoutes,
  treeRoutes,
  modelRoutes,
  logRoutes,
  eventRoutes,
  sessionRoutes
]

/**
 * Builds the app in the current Scope. Mount it anywhere: `parent.route("/waypoint", app)`. The `StateStore`,
 * `SnapshotStore` and `ProgressStore` in the current context (those the runtime was built with) serve task state,
 * snapshots and progress; a route whose store is absent answers 501. A bearer token no client can send fails it
 * with `InvalidBearerToken` (typed: it usually comes from configuration, such as an environment variable).
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const runtime = yield* Runtime.make()
 *   const app = yield* makeApp({ runtime, tasks: [greet], auth: { bearer: yield* Config.String("WAYPOINT_TOKEN") } })
 *   const server = yield* serveNode(app, { port: 8080 })
 *   yield* Effect.never
 * }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
 * ```
 */
export const makeApp = <P>(options: AppOptions<P>): Effect.Effect<Hono, InvalidBearerToken, Scope.Scope | TaskStore> =>
  Effect.gen(function* () {
    yield* checkAuth(options.auth)
    const bodyLimitBytes = options.bodyLimitBytes ?? 1024 * 1024
    if (!Number.isSafeInteger(bodyLimitBytes) || bodyLimitBytes < 0) {
      return yield* Effect.die(new Error(`bodyLimitBytes must be a non-negative integer, got ${bodyLimitBytes}`))
    }
    const tasks = new Map<string, AnyHttpTask>()
    for (const task of options.tasks as ReadonlyArray<AnyHttpTask>) {
      if (tasks.has(task.name)) return yield* Effect.die(new Error(`two tasks are named "${task.name}"`))
      tasks.set(task.name, task)
    }

    // What every request runs with. (Not an `Effect.fn`: its span would be the parent of every request's span.)
    const services = yield* Effect.context<never>()
    const stores = {
      tasks: yield* TaskStore,
      state: yield* Effect.serviceOption(StateStore),
      snapshots: yield* Effect.serviceOption(SnapshotStore),
      progress: yield* Effect.serviceOption(ProgressStore),
      trees: yield* Effect.serviceOption(RunTreeStore)
    }
    const fibers = yield* FiberSet.make()
    const runPromise = yield* FiberSet.runtimePromise(fibers)()
    const closing = new AbortController()
    // Runs before the FiberSet interrupts what is left: streams end cleanly first.
    yield* Effect.addFinalizer(() => Effect.sync(() => closing.abort()))

    // Every effect given here handles its whole Cause; the promise only rejects when the app's Scope is closed.
    const run = <A>(effect: Effect.Effect<A>): Promise<A | Response> => runPromise(effect).catch(shuttingDownResponse)
    const answer = (c: Context, effect: Effect.Effect<Response, HttpFailure>) =>
      run(Effect.catchCause(effect, (cause) => causeResponse(cause, c.req.raw)))
    const fail = (c: Context, error: HttpFailure) => answer(c, Effect.fail(error))

    const auth = options.auth
    const ctx: RouteContext = {
      runtime: options.runtime as unknown as Runtime.Runtime<unknown>,
      tasks,
      stores,
      stateManager: Option.fromUndefinedOr(options.stateManager),
      bodyLimitBytes,
      heartbeat: Duration.fromInputUnsafe(options.heartbeat ?? "15 seconds"),
      services,
      closing: closing.signal,
      routes: () => routes,
      isAuthConfigured: auth !== undefined,
      isBearerAuth: auth !== undefined && "bearer" in auth
    }
    const routes = [...resources, ...(options.dashboard === false ? [] : [dashboardRoutes])].flatMap((resource) =>
      resource(ctx)
    )

    const app = new Hono()
    const register = (route: Route) => app.on(route.method, route.path, (c) => answer(c, route.handle(c)))

    if (options.cors !== undefined && options.cors !== false) {
      app.use("*", cors(options.cors === true ? undefined : options.cors))
    }
    // Registered before the credentials check, which therefore never sees them.
    routes.filter((route) => route.isPublic === true).forEach(register)
    if (auth !== undefined) {
      const requireCredentials: MiddlewareHandler = (c, next) =>
        run(
          Effect.flatMap(isAuthorized(auth, c.req.raw), (isAllowed) =>
            isAllowed ? Effect.succeed(undefined) : failureResponse(new Unauthorized(), c.req.raw)
          ).pipe(Effect.catchCause((cause) => causeResponse(cause, c.req.raw)))
        ).then((denied) => denied ?? next().then(() => undefined))
      app.use("*", requireCredentials)
    }
    routes.filter((route) => route.isPublic !== true).forEach(register)

    // Any other method on a known path: 405 with the methods it answers (OPTIONS: 204 with the same list).
    const allowByShape = new Map<string, { readonly path: string; readonly methods: Set<string> }>()
    for (const route of routes) {
      const shape = route.path.replace(/:[^/]+/g, ":")
      const entry = allowByShape.get(shape) ?? { path: route.path, methods: new Set<string>() }
      entry.methods.add(route.method)
      if (route.method === "GET") entry.methods.add("HEAD")
      allowByShape.set(shape, entry)
    }
    for (const { path, methods } of allowByShape.values()) {
      const allow = Array.from(methods).sort()
      app.all(path, (c) =>
        c.req.method === "OPTIONS"
          ? new Response(null, { status: 204, headers: { allow: [...allow, "OPTIONS"].join(", ") } })
          : fail(c, new MethodNotAllowed({ method: c.req.method.slice(0, 20), allow }))
      )
    }
    app.notFound((c) => fail(c, new RouteNotFound({ path: c.req.path.slice(0, 255) })))
    app.onError((error, c) => run(causeResponse(Cause.die(error), c.req.raw)))
    return app
  })
