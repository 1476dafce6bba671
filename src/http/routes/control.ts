/**
 * Steering a task from outside: pause it, resume it, send it a signal. A signal's payload is checked by the
 * runtime against the Schema the task declared for that signal; a refused payload delivers nothing.
 */
import { Effect, Schema } from "effect"
import type { SignalRejected } from "../../index.ts"
import { TaskEnded } from "../errors.ts"
import type { RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  noContent,
  type OperationDoc,
  problemDoc,
  type Route,
  type RouteContext,
  TaskPath,
  Token,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import { TaskView, toTaskView } from "../schema.ts"

const SignalPath = Schema.Struct({
  ...TaskPath.fields,
  name: Token.annotateKey({ description: "The signal's name." })
})

const signalRequest = {
  path: SignalPath,
  body: Schema.Json.annotate({ description: "The signal's payload, checked by its Schema." })
}

export const controlRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime } = ctx

  const pause = Effect.fn("http.pauseTask")(function* (input: RequestInput<{ path: typeof TaskPath }>) {
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.pause(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const resume = Effect.fn("http.resumeTask")(function* (input: RequestInput<{ path: typeof TaskPath }>) {
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.resume(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const signal = Effect.fn("http.signalTask")(function* (input: RequestInput<typeof signalRequest>) {
    const path = yield* input.path
    const id = yield* taskId(path.id)
    const name = path.name
    const payload = yield* input.body
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
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/pause",
      request: { path: TaskPath },
      docs: [
        actionDoc(
          "pause",
          "Pause a task until it is resumed: a running attempt is interrupted, and runs again from its start",
          "The task has ended (or its status kept changing)."
        )
      ],
      handle: pause
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/resume",
      request: { path: TaskPath },
      docs: [actionDoc("resume", "Make a paused or waiting task runnable now", "The task has ended.")],
      handle: resume
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/signals/:name",
      request: signalRequest,
      docs: [
        {
          path: "/tasks/{id}/signals/{name}",
          operationId: "signalTask",
          summary: "Send a signal to a task: kept until a `waitForSignal` of that name takes it",
          tag: "tasks",
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
    })
  ]
}
