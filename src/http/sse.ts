/**
 * Server-Sent Events over a stream of task events: each event is written with `id:` = its `seq`, `event:` = its
 * kind and `data:` = its JSON, with a comment line every heartbeat so proxies keep the connection open. A stream
 * runs in its own fiber, interrupted when the client goes away or the app closes, which frees its subscription.
 */
import { type Cause, type Context, type Duration, Effect, Exit, Queue, Scope, Stream } from "effect"
import type { TaskEvent } from "../index.ts"
import { toEventView } from "./schema.ts"

export interface SseOptions {
  readonly heartbeat: Duration.Duration
  readonly services: Context.Context<never>
  /** Aborted when the app closes. */
  readonly closing: AbortSignal
}

/** One event in the wire format; JSON has no raw newline, so `data:` is a single line. */
export const formatEvent = (event: TaskEvent): string =>
  `id: ${event.seq}\nevent: ${event._tag}\ndata: ${JSON.stringify(toEventView(event))}\n\n`

/** Events read ahead of a slow client; past this the reader waits (the runtime's own buffer then drops the oldest). */
const QUEUE_CAPACITY = 256

const headers = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no"
}

/**
 * The response streaming `events`. The subscription is taken before the response is returned, so every event
 * published after the client sees the response is sent. For a HEAD request, only the headers.
 */
export const sseResponse = <E>(
  request: Request,
  events: Stream.Stream<TaskEvent, E>,
  options: SseOptions
): Effect.Effect<Response> =>
  Effect.gen(function* () {
    if (request.method === "HEAD") return new Response(null, { status: 200, headers })
    const scope = yield* Scope.make()
    const queue = yield* Queue.make<TaskEvent, E | Cause.Done>({ capacity: QUEUE_CAPACITY })
    yield* Scope.addFinalizer(scope, Queue.shutdown(queue))
    // Started at once, the stream subscribes before this returns (a stream subscribes when first run).
    yield* Effect.forkIn(Stream.runIntoQueue(events, queue), scope, { startImmediately: true })
    const frames = Stream.fromQueue(queue).pipe(
      Stream.map(formatEvent),
      // The headers are already sent: a failure can only end the stream, and the client resumes from its last id.
      Stream.catchCause((cause) =>
        Stream.fromEffect(Effect.logWarning("event stream ended by an error", cause)).pipe(
          Stream.flatMap(() => Stream.empty)
        )
      ),
      Stream.merge(
        Stream.tick(options.heartbeat).pipe(
          Stream.drop(1),
          Stream.map(() => ": heartbeat\n\n")
        ),
        {
          haltStrategy: "left"
        }
      ),
      (stream) => Stream.concat(Stream.succeed(": connected\n\n"), stream),
      Stream.encodeText,
      Stream.ensuring(Scope.close(scope, Exit.void))
    )
    // Aborting interrupts the stream even while the client is not reading.
    const signal = AbortSignal.any([request.signal, options.closing])
    return new Response(Stream.toReadableStreamWith(frames, options.services, { signal }), { status: 200, headers })
  })
