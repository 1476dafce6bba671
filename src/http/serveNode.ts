/**
 * Serves an app on Node with `@hono/node-server`. The server lives in the current Scope; `close` (or closing the
 * Scope) stops accepting, ends event streams and waits for in-flight requests.
 */
import type { Server } from "node:http"
import type { AddressInfo } from "node:net"
import { createAdaptorServer } from "@hono/node-server"
import { Deferred, Effect, Exit, Schedule, type Scope } from "effect"
import {
  DEFAULT_HOSTNAME,
  type Fetchable,
  type HttpServer,
  makeStreamCloser,
  ServeError,
  type ServeOptions,
  shutdownTimeoutOf
} from "./serve.ts"

/**
 * Starts a Node HTTP server for `app`.
 *
 * @example
 * ```ts
 * const server = yield* serveNode(app, { port: 8080, hostname: "0.0.0.0" })
 * yield* Effect.log(`listening on ${server.url}`)
 * ```
 */
export const serveNode: (app: Fetchable, options: ServeOptions) => Effect.Effect<HttpServer, ServeError, Scope.Scope> =
  Effect.fn("serveNode")(function* (app: Fetchable, options: ServeOptions) {
    const hostname = options.hostname ?? DEFAULT_HOSTNAME
    const streams = yield* makeStreamCloser
    // Without a `createServer` option the adaptor builds a plain `node:http` server.
    const server = createAdaptorServer({
      fetch: (request, env) => Promise.resolve(app.fetch(request, env)).then(streams.track),
      hostname
    }) as Server
    yield* Effect.callback<void, ServeError>((resume) => {
      const onError = (cause: unknown) =>
        resume(Effect.fail(new ServeError({ reason: `cannot listen on ${hostname}:${options.port}`, cause })))
      server.once("error", onError)
      server.listen(options.port, hostname, () => {
        server.off("error", onError)
        resume(Effect.void)
      })
    })
    const port = (server.address() as AddressInfo).port

    const closed = yield* Deferred.make<void>()
    const close = yield* Effect.cached(
      Effect.gen(function* () {
        server.close(() => Deferred.doneUnsafe(closed, Exit.void))
        yield* streams.close
        // A keep-alive connection goes idle once its response is sent; close it then, not at its own timeout.
        const closeIdle = Effect.sync(() => server.closeIdleConnections()).pipe(
          Effect.repeat(Schedule.spaced("20 millis"))
        )
        yield* Effect.raceFirst(Deferred.await(closed), closeIdle).pipe(
          Effect.timeoutOrElse({
            duration: shutdownTimeoutOf(options),
            orElse: () =>
              Effect.andThen(
                Effect.sync(() => server.closeAllConnections()),
                Deferred.await(closed)
              )
          })
        )
      })
    )
    yield* Effect.addFinalizer(() => close)
    const host = hostname.includes(":") ? `[${hostname}]` : hostname
    return { hostname, port, url: `http://${host}:${port}`, close }
  })
