/**
 * A task's own state, read from the `StateStore` in the app's context: the keys the task wrote through
 * `TaskState`, without those whose TTL has passed. Read-only: only the task writes its state.
 */
import { Clock, Effect } from "effect"
import { taskScopeId } from "../../index.ts"
import type { RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  notConfiguredDoc,
  problemDoc,
  type Route,
  type RouteContext,
  requireService,
  TaskPath,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import { TaskStateView, toTaskStateView } from "../schema.ts"

export const stateRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime } = ctx

  const getState = Effect.fn("http.getTaskState")(function* (input: RequestInput<{ path: typeof TaskPath }>) {
    const store = yield* requireService(ctx.stores.state, "StateStore")
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.get(id)
    const entries = yield* store.getAll(taskScopeId(id))
    // Not Date.now(): the state's TTLs are measured on the runtime's Clock.
    const now = yield* Clock.currentTimeMillis
    return json(toTaskStateView(id, entries, now))
  })

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/state",
      request: { path: TaskPath },
      docs: [
        {
          path: "/tasks/{id}/state",
          operationId: "getTaskState",
          summary: "Read a task's own state; the state plugin clears it when the task ends, unless told to keep it",
          tag: "state",
          responses: {
            200: { description: "Every live key of the task's state.", schema: TaskStateView },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task."),
            ...notConfiguredDoc(ctx.stores.state, "StateStore")
          }
        }
      ],
      handle: getState
    })
  ]
}
