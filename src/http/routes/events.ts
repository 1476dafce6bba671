/**
 * Event streams: one task's events, or every event of the runtime, as Server-Sent Events. A task's stream starts
 * with the task's current status and ends after a final status; `Last-Event-ID` skips what the client has seen.
 */
import { Effect, Option, Schema, Sink, Stream } from "effect"
import { task as defineTask, isTerminal, type TaskEvent } from "../../index.ts"
import { digitsTo, type RequestInput } from "../request.ts"
import {
  defineRoute,
  type OperationDoc,
  problemDoc,
  type Route,
  type RouteContext,
  TaskPath,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import { TaskEventView } from "../schema.ts"
import { sseResponse } from "../sse.ts"
import type { AnyHttpTask } from "../task.ts"
import { asTask } from "../task.ts"

/** The `seq` of the last event the client saw: digits only, as the ids this API sends. */
const EventsHeaders = Schema.Struct({
  "Last-Event-ID": Schema.optionalKey(
    digitsTo(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })))
  ).annotateKey({ description: "Resume: only events with a larger id are sent." })
})

const taskEventsRequest = { path: TaskPath, headers: EventsHeaders }

const eventStream = {
  description:
    "Server-Sent Events: `id` is the event's seq, `event` its kind, `data` a TaskEvent as JSON; comment lines are heartbeats.",
  schema: TaskEventView,
  contentType: "text/event-stream"
}

const isFinalStatus = (event: TaskEvent) => event._tag === "StatusChanged" && isTerminal(event.status)

export const eventRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime, tasks } = ctx
  const streamOptions = { heartbeat: ctx.heartbeat, services: ctx.services, closing: ctx.closing }

  /**
   * A stand-in for a task this app was not given (started elsewhere on the runtime): a handle's events need only
   * the task's name and id.
   */
  const definitionOf = (name: string): AnyHttpTask =>
    tasks.get(name) ?? defineTask({ name, input: Schema.Json }, () => Effect.void)

  /**
   * A task's events after `after`. The handle's stream starts with the task's current status, numbered with the
   * runtime's latest seq; comparing the client's id with it tells what the client has missed.
   */
  const resumeTask = <E>(id: string, events: Stream.Stream<TaskEvent, E>, after: number) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const [first, rest] = yield* Stream.peel(events, Sink.head())
        if (Option.isNone(first)) return rest
        const current = first.value
        // An id past the runtime's numbering comes from before a restart: start over.
        if (after > current.seq) return Stream.concat(Stream.succeed(current), rest)
        if (after === current.seq) return rest
        // A finished task: what the history kept of what the client missed, ending with the final status.
        if (isFinalStatus(current)) {
          const missed = yield* runtime.history({ taskId: id, after })
          const last = missed.at(-1)
          return Stream.fromIterable(last !== undefined && isFinalStatus(last) ? missed : [...missed, current])
        }
        return runtime.subscribe({ taskId: id, after }).pipe(Stream.takeUntil(isFinalStatus))
      })
    )

  const taskEvents = Effect.fn("http.taskEvents")(function* (input: RequestInput<typeof taskEventsRequest>) {
    const id = yield* taskId((yield* input.path).id)
    const after = (yield* input.headers)["Last-Event-ID"]
    const record = yield* runtime.get(id)
    const events = runtime.handle(asTask(definitionOf(record.name)), id).events
    const stream = after === undefined ? events : resumeTask(id, events, after)
    return yield* sseResponse(input.raw, stream, streamOptions)
  })

  const treeEvents = Effect.fn("http.treeEvents")(function* (input: RequestInput<typeof taskEventsRequest>) {
    const id = yield* taskId((yield* input.path).id)
    const after = (yield* input.headers)["Last-Event-ID"]
    yield* runtime.get(id)
    return yield* sseResponse(input.raw, runtime.subscribeTree(id, { after }), streamOptions)
  })

  const allEvents = Effect.fn("http.allEvents")(function* (input: RequestInput<{ headers: typeof EventsHeaders }>) {
    const after = (yield* input.headers)["Last-Event-ID"]
    // An id from before a runtime restart (past the new numbering) starts over: `subscribe` sees to it.
    const events = runtime.subscribe(after === undefined ? undefined : { after })
    return yield* sseResponse(input.raw, events, streamOptions)
  })

  const unauthorized = unauthorizedDoc(ctx)
  const taskDoc: OperationDoc = {
    path: "/tasks/{id}/events",
    operationId: "taskEvents",
    summary: "Follow a task: its current status, then each change, ending after a final status",
    tag: "events",
    responses: {
      200: eventStream,
      400: problemDoc("A bad Last-Event-ID."),
      ...unauthorized,
      404: problemDoc("No such task.")
    }
  }
  const treeDoc: OperationDoc = {
    path: "/tasks/{id}/tree/events",
    operationId: "treeEvents",
    summary: "Follow a run tree: the events of a task and of every task under it (started later too), from now on",
    tag: "events",
    responses: {
      200: eventStream,
      400: problemDoc("A bad Last-Event-ID."),
      ...unauthorized,
      404: problemDoc("No such task.")
    }
  }
  const allDoc: OperationDoc = {
    path: "/events",
    operationId: "events",
    summary: "Follow every event of the runtime from now on",
    tag: "events",
    responses: { 200: eventStream, 400: problemDoc("A bad Last-Event-ID."), ...unauthorized }
  }

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/events",
      request: taskEventsRequest,
      docs: [taskDoc],
      handle: taskEvents
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree/events",
      request: taskEventsRequest,
      docs: [treeDoc],
      handle: treeEvents
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/events",
      request: { headers: EventsHeaders },
      docs: [allDoc],
      handle: allEvents
    })
  ]
}
