/**
 * A run's tree: a task and every task under it, read at one instant from the `RunTreeStore` in the app's context
 * (every store layer provides one), each task with its key path, status, wait, progress and result.
 */
import { Effect } from "effect"
import { RunTree, RunTreeStore } from "../../index.ts"
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

const treeRequest = { path: TaskPath }

export const treeRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const storeOf = requireService(ctx.stores.trees, "RunTreeStore")

  const read = Effect.fn("http.readTree")(function* (input: RequestInput<typeof treeRequest>) {
    const store = yield* storeOf
    const id = yield* taskId((yield* input.path).id)
    const tree = yield* RunTree.read(id).pipe(Effect.provideService(RunTreeStore, store))
    return json(tree)
  })

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree",
      request: treeRequest,
      docs: [
        {
          path: "/tasks/{id}/tree",
          operationId: "readTree",
          summary: "Read the tree under a task: it and all its descendants, by key path, at one instant",
          tag: "tasks",
          responses: {
            200: { description: "The task first, then each task after its parent.", schema: RunTree.RunTree },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task."),
            ...notConfiguredDoc(ctx.stores.trees, "RunTreeStore")
          }
        }
      ],
      handle: read
    })
  ]
}
