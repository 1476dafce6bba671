/**
 * What the Node and Deno servers share: their options, the running server, and how one closes gracefully: it stops
 * accepting, ends open event streams, lets in-flight requests finish, and drops what is left after a timeout.
 */
import { Duration, Effect, Schema, Stream } from "effect"

/** Where to listen. */
export interface ServeOptions {
  /** `0` picks a free port; read it from `HttpServer.port`. */
  readonly port: number
  /** Default: `127.0.0.1`, reachable from this machine only. */
  readonly hostname?: string | undefined
  /** How long `close` waits for in-flight requests before dropping their connections. Default: 10 seconds. */
  readonly shutdownTimeout?: Duration.Input | undefined
}

/** A listening server. Closing the Scope it was started in closes it too. */
export interface HttpServer {
  readonly hostname: string
  readonly port: number
  /** `http://hostname:port`, with no trailing slash. */
  readonly url: string
  /**
   * Stops accepting connections, ends open event streams, and waits for in-flight requests to finish (at most the
   * shutdown timeout). Closing twice waits for the same close.
   */
  readonly close: Effect.Effect<void>
}

/** The server could not start: the port is taken, the hostname does not resolve, or the platform is wrong. */
export class ServeError extends Schema.TaggedError<ServeError>()("ServeError", {
  reason: Schema.String,
  cause: Schema.Defect()
}) {
  override get message() {
    return this.reason
  }
}

/** Anything that answers a `Request`: a Hono app, or a parent app the Waypoint app is mounted in. */
export interface Fetchable {
  readonly fetch: (request: Request, env: object) => Response | Promise<Response>
}

export const DEFAULT_HOSTNAME = "127.0.0.1"

export const shutdownTimeoutOf = (options: ServeOptions): Duration.Duration =>
  Duration.fromInputUnsafe(options.shutdownTimeout ?? "10 seconds")

/** Wraps responses so that `close` ends every event stream still being sent, even to a client that reads nothing. */
export const makeStreamCloser = Effect.gen(function* () {
  const services = yield* Effect.context<never>()
  const closing = new AbortController()
  const track = (response: Response): Response => {
    const body = response.body
    const isEventStream = response.headers.get("content-type")?.startsWith("text/event-stream") === true
    if (body === null || !isEventStream) return response
    const stream = Stream.fromReadableStream({ evaluate: () => body, onError: (cause) => cause })
    return new Response(Stream.toReadableStreamWith(stream, services, { signal: closing.signal }), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers
    })
  }
  return { track, close: Effect.sync(() => closing.abort()) } as const
})
