/**
 * Serves an app on Deno with `Deno.serve`. The server lives in the current Scope; `close` (or closing the Scope)
 * stops accepting, ends event streams and waits for in-flight requests. On any other platform it fails with
 * `ServeError`.
 */
import { Effect, type Scope } from "effect"
import {
  DEFAULT_HOSTNAME,
  type Fetchable,
  type HttpServer,
  makeStreamCloser,
  ServeError,
  type ServeOptions,
  shutdownTimeoutOf
} from "./serve.ts"

/** The part of Deno's API used here, so that this file type-checks without Deno's types. */
interface DenoAddress {
  readonly hostname: string
  readonly port: number
}
interface DenoServer {
  readonly addr: DenoAddress
  readonly finished: Promise<void>
  shutdown(): Promise<void>
}
interface DenoNamespace {
  serve(
    options: { port: number; hostname: string; onListen: (address: DenoAddress) => void },
    handler: (request: Request, info: object) => Response | Promise<Response>
  ): DenoServer
}

/**
 * Starts a Deno HTTP server for `app`.
 *
 * @example
 * ```ts
 * const server = yield* serveDeno(app, { port: 8080 })
 * ```
 */
export const serveDeno: (app: Fetchable, options: ServeOptions) => Effect.Effect<HttpServer, ServeError, Scope.Scope> =
  Effect.fn("serveDeno")(function* (app: Fetchable, options: ServeOptions) {
    const deno = (globalThis as { readonly Deno?: DenoNamespace }).Deno
    if (deno === undefined) {
      return yield* new ServeError({ reason: "serveDeno needs Deno: globalThis.Deno is missing", cause: undefined })
    }
    const hostname = options.hostname ?? DEFAULT_HOSTNAME
    const streams = yield* makeStreamCloser
    const server = yield* Effect.try({
      try: () =>
        deno.serve({ port: options.port, hostname, onListen: () => {} }, (request, info) =>
          Promise.resolve(app.fetch(request, info)).then(streams.track)
        ),
      catch: (cause) => new ServeError({ reason: `cannot listen on ${hostname}:${options.port}`, cause })
    })
    const close = yield* Effect.cached(
      Effect.gen(function* () {
        yield* streams.close
        yield* Effect.promise(() => server.shutdown()).pipe(
          Effect.timeoutOrElse({ duration: shutdownTimeoutOf(options), orElse: () => Effect.void })
        )
      })
    )
    yield* Effect.addFinalizer(() => close)
    const { port } = server.addr
    const host = hostname.includes(":") ? `[${hostname}]` : hostname
    return { hostname, port, url: `http://${host}:${port}`, close }
  })
