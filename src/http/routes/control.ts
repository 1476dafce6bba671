/**
 * Steering a task from outside: pause it, resume it, send it a signal. A signal's payload is checked by the
 * runtime against the Schema the task declared for that signal; a refused payload delivers nothing.
 */
import { Effect, Schema } from "effect"
import type { Context } from "hono"
import type { SignalRejected } from "../../index.ts"
import { TaskEnded } from "../errors.ts"
import { readJsonBody } from "../internal/body.ts"
import {
  badRequest,
  json,
  noContent,
  type OperationDoc,
  problemDoc,
  type Route,
  type RouteContext,
  Token,
  taskIdParam,
  taskIdParameter,
  unauthorizedDoc
} from "../route.ts"
import { TaskView, toTaskView } from "../schema.ts"

const decodeSignalName = Schema.decodeUnknownEffect(Token)

export const controlRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime } = ctx

  const pause = Effect.fn("http.pauseTask")(function* (c: Context) {
    const id = yield* taskIdParam(c)
    yield* runtime.pause(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const resume = Effect.fn("http.resumeTask")(function* (c: Context) {
    const id = yield* taskIdParam(c)
    yield* runtime.resume(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const signal = Effect.fn("http.signalTask")(function* (c: Context) {
    const id = yield* taskIdParam(c)
    const name = yield* Effect.mapError(decodeSignalName(c.req.param("name")), badRequest("invalid signal name"))
    const payload = yield* readJsonBody(c.req.raw, ctx.bodyLimitBytes)
    yield* runtime.signal(id, name, payload).pipe(
      // A signal to an ended task is a conflict (409); a payload the signal's Schema refuses is a bad request (400).
      Effect.catchTag("SignalRejected", (rejected) =>
        rejected.cause === "TaskEnded"
          ? Effect.flatMap(runtime.get(id), (record) =>
              Effect.fail<TaskEnded | SignalRejected>(
                new TaskEnded({ taskId: id, status: record.status, signal: name })
              )
            )
          : Effect.fail<TaskEnded | SignalRejected>(rejected)
      )
    )
    return noContent(202)
  })

  const unauthorized = unauthorizedDoc(ctx)
  const actionDoc = (action: "pause" | "resume", summary: string, conflict: string): OperationDoc => ({
    path: `/tasks/{id}/${action}`,
    operationId: `${action}Task`,
    summary,
    tag: "tasks",
    parameters: [taskIdParameter],
    responses: {
      200: {
        description:
          action === "pause"
            ? "The task after the pause; still `running` if it runs in another process (or its claim here is on its way), which was asked to pause it."
            : "The task after the resume.",
        schema: TaskView
      },
      ...unauthorized,
      404: problemDoc(action === "pause" ? "No such task." : "No such task, or the runtime does not know its name."),
      409: problemDoc(conflict)
    }
  })

  return [
    {
      method: "POST",
      path: "/tasks/:id/pause",
      docs: [
        actionDoc(
          "pause",
          "Pause a task until it is resumed: a running attempt is interrupted, and runs again from its start",
          "The task has ended (or its status kept changing)."
        )
      ],
      handle: pause
    },
    {
      method: "POST",
      path: "/tasks/:id/resume",
      docs: [actionDoc("resume", "Make a paused or waiting task runnable now", "The task has ended.")],
      handle: resume
    },
    {
      method: "POST",
      path: "/tasks/:id/signals/:name",
      docs: [
        {
          path: "/tasks/{id}/signals/{name}",
          operationId: "signalTask",
          summary: "Send a signal to a task: kept until a `waitForSignal` of that name takes it",
          tag: "tasks",
          parameters: [
            taskIdParameter,
            { name: "name", in: "path", required: true, description: "The signal's name.", schema: Token }
          ],
          requestBody: Schema.Json.annotate({ description: "The signal's payload, checked by its Schema." }),
          responses: {
            202: { description: "Delivered to the task's mailbox." },
            400: problemDoc(
              "A bad signal name, a body that is not JSON, or a payload that the signal's Schema refuses."
            ),
            ...unauthorized,
            404: problemDoc("No such task."),
            409: problemDoc("The task has ended."),
            413: problemDoc("The body is larger than the limit."),
            415: problemDoc("The body is not application/json.")
          }
        }
      ],
      handle: signal
    }
  ]
}
