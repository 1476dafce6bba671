/**
 * A task's log lines, as its store keeps them (`Progress.log`), oldest first and paged by sequence number: what a
 * follower in another process (`waypoint tasks follow --url`) reads, since the runtime's events stay in the process
 * that drives the task.
 */
import { Effect, Schema } from "effect"
import { digitsTo, type RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  Limit,
  notConfiguredDoc,
  problemDoc,
  type Route,
  type RouteContext,
  requireService,
  TaskPath,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import { LogPageView, toLogEntryView } from "../schema.ts"

const Seq = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

const LogQuery = Schema.Struct({
  after: Schema.optionalKey(digitsTo(Seq)).annotateKey({ description: "Only the lines after this `seq`." }),
  limit: Schema.optionalKey(digitsTo(Limit)).annotateKey({
    description: "At most this many lines: 1 to 1000, default 100; a larger one is refused (400)."
  })
})

const logsRequest = { path: TaskPath, query: LogQuery }

export const logRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const progressOf = requireService(ctx.stores.progress, "ProgressStore")

  const list = Effect.fn("http.listTaskLogs")(function* (input: RequestInput<typeof logsRequest>) {
    const progress = yield* progressOf
    const id = yield* taskId((yield* input.path).id)
    const query = yield* input.query
    const record = yield* ctx.runtime.get(id)
    const entries = yield* progress.listLogs(record.id, { limit: query.limit ?? 100, afterSeq: query.after })
    const body: LogPageView = { items: entries.map(toLogEntryView) }
    return json(body)
  })

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/logs",
      request: logsRequest,
      docs: [
        {
          path: "/tasks/{id}/logs",
          operationId: "listTaskLogs",
          summary: "Read a task's log lines, oldest first, after a sequence number",
          tag: "tasks",
          responses: {
            200: { description: "The lines.", schema: LogPageView },
            400: problemDoc("A bad `after` or `limit`."),
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task."),
            ...notConfiguredDoc(ctx.stores.progress, "ProgressStore")
          }
        }
      ],
      handle: list
    })
  ]
}
