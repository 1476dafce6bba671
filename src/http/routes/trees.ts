/**
 * A run's tree: a task and every task under it, read at one instant from the `RunTreeStore` in the app's context
 * (every store layer provides one), each task with its key path, status, wait, progress and result; and named
 * checkpoints of it, kept by the app's `StateManager` (`TreeCheckpoints`), and new trees forked from them.
 */
import { Effect, Schema } from "effect"
import {
  BranchSnapshot,
  CheckpointNotFound,
  RunTree,
  RunTreeStore,
  SnapshotStore,
  StateManager,
  TaskStore,
  TreeCheckpoints
} from "../../index.ts"
import type { RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  keySegment,
  notConfiguredDoc,
  problemDoc,
  type Route,
  type RouteContext,
  requireService,
  requireStateManager,
  TaskPath,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import { RunTreeView, TaskView, toRunTreeView, toTaskView } from "../schema.ts"

const treeRequest = { path: TaskPath }

const CheckpointRequest = Schema.Struct({
  /** One key segment: no `/`, `\\`, control character, `.` or `..`. */
  name: Schema.String
}).annotate({ identifier: "TreeCheckpointRequest", description: "The new checkpoint's name." })

const checkpointRequest = { path: TaskPath, body: CheckpointRequest }

const ForkRequest = Schema.Struct({
  /** New inputs by key path (`supervisor/research`), as the task stores them: each such branch runs again with it. */
  replace: Schema.optionalKey(Schema.Record(Schema.String, Schema.Json))
}).annotate({ identifier: "TreeForkRequest", description: "What changes in the new tree." })

const CheckpointPath = Schema.Struct({
  ...TaskPath.fields,
  checkpointId: Schema.String.annotateKey({ description: "The checkpoint's id, as its creation returned it." })
})

const readCheckpointRequest = { path: CheckpointPath }

const forkRequest = { path: CheckpointPath, body: ForkRequest }

export const treeRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const storeOf = requireService(ctx.stores.trees, "RunTreeStore")
  const managerOf = requireStateManager(ctx)

  const read = Effect.fn("http.readTree")(function* (input: RequestInput<typeof treeRequest>) {
    const store = yield* storeOf
    const id = yield* taskId((yield* input.path).id)
    const tree = yield* RunTree.read(id).pipe(Effect.provideService(RunTreeStore, store))
    return json(toRunTreeView(tree))
  })

  const createCheckpoint = Effect.fn("http.createTreeCheckpoint")(function* (
    input: RequestInput<typeof checkpointRequest>
  ) {
    const store = yield* storeOf
    const manager = yield* managerOf
    const id = yield* taskId((yield* input.path).id)
    const name = yield* keySegment((yield* input.body).name)
    const checkpointId = yield* TreeCheckpoints.checkpoint(id, name).pipe(
      Effect.provideService(RunTreeStore, store),
      Effect.provideService(StateManager, manager)
    )
    return json({ id: checkpointId }, 201)
  })

  const listCheckpoints = Effect.fn("http.listTreeCheckpoints")(function* (input: RequestInput<typeof treeRequest>) {
    const manager = yield* managerOf
    const id = yield* taskId((yield* input.path).id)
    yield* ctx.runtime.get(id)
    const checkpoints = yield* TreeCheckpoints.list(id).pipe(Effect.provideService(StateManager, manager))
    return json({ items: checkpoints.map(({ id, name, createdAt }) => ({ id, name, createdAt })) })
  })

  /** The checkpoint `raw` names, when it is one of the run under `id`. */
  const ofRun = (id: string, raw: string) =>
    Effect.flatMap(keySegment(raw), (checkpointId) =>
      checkpointId.startsWith(`checkpoint_${TreeCheckpoints.sessionOf(id)}_`)
        ? Effect.succeed(checkpointId)
        : Effect.fail(new CheckpointNotFound({ checkpointId }))
    )

  const readCheckpoint = Effect.fn("http.readTreeCheckpoint")(function* (
    input: RequestInput<typeof readCheckpointRequest>
  ) {
    const manager = yield* managerOf
    const path = yield* input.path
    const id = yield* taskId(path.id)
    const checkpointId = yield* ofRun(id, path.checkpointId)
    const kept = yield* TreeCheckpoints.restore(checkpointId).pipe(Effect.provideService(StateManager, manager))
    return json({ tree: toRunTreeView(kept.tree), branches: kept.branches })
  })

  const fork = Effect.fn("http.forkTree")(function* (input: RequestInput<typeof forkRequest>) {
    const manager = yield* managerOf
    const snapshots = yield* requireService(ctx.stores.snapshots, "SnapshotStore")
    const path = yield* input.path
    const id = yield* taskId(path.id)
    const checkpointId = yield* ofRun(id, path.checkpointId)
    const { replace } = yield* input.body
    const forked = yield* TreeCheckpoints.fork(checkpointId, { replace }).pipe(
      Effect.provideService(StateManager, manager),
      Effect.provideService(TaskStore, ctx.stores.tasks),
      Effect.provideService(SnapshotStore, snapshots),
      // the new tree's writes are its own: none is fenced out
      Effect.catchTag("LeaseLost", Effect.die)
    )
    // driven here when this runtime knows the root's task; otherwise a worker that does runs it
    // (a fork of a finished tree with nothing replaced is finished already: nothing to resume)
    yield* Effect.catchTag(ctx.runtime.resume(forked), ["UnknownTask", "InvalidTransition"], () => Effect.void)
    const record = yield* ctx.runtime.get(forked)
    const location = new URL(`../../../../${encodeURIComponent(forked)}`, input.raw.url).pathname
    return json(toTaskView(record), 201, { location })
  })

  const unauthorized = unauthorizedDoc(ctx)
  const noManager = notConfiguredDoc(ctx.stateManager, "StateManager")

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
            200: { description: "The task first, then each task after its parent.", schema: RunTreeView },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...notConfiguredDoc(ctx.stores.trees, "RunTreeStore")
          }
        }
      ],
      handle: read
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/tree/checkpoints",
      request: checkpointRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/checkpoints",
          operationId: "createTreeCheckpoint",
          summary: "Keep the tree under a task, as it is now, as a named checkpoint of its run",
          tag: "tasks",
          body: CheckpointRequest,
          responses: {
            201: { description: "The checkpoint's id.", schema: Schema.Struct({ id: Schema.String }) },
            400: problemDoc("A bad body, or a name that cannot be a key segment."),
            ...unauthorized,
            404: problemDoc("No such task."),
            ...notConfiguredDoc(ctx.stores.trees, "RunTreeStore"),
            ...noManager
          }
        }
      ],
      handle: createCheckpoint
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree/checkpoints",
      request: treeRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/checkpoints",
          operationId: "listTreeCheckpoints",
          summary: "List the checkpoints of the run under a task, oldest first",
          tag: "tasks",
          responses: {
            200: {
              description: "The checkpoints.",
              schema: Schema.Struct({
                items: Schema.Array(Schema.Struct({ id: Schema.String, name: Schema.String, createdAt: Schema.Number }))
              })
            },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...noManager
          }
        }
      ],
      handle: listCheckpoints
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/tree/checkpoints/:checkpointId/fork",
      request: forkRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/checkpoints/{checkpointId}/fork",
          operationId: "forkTree",
          summary: "Start a new tree from a checkpoint: completed branches kept, the others run again",
          tag: "tasks",
          body: ForkRequest,
          responses: {
            201: { description: "The new tree's root; `Location` names it.", schema: TaskView },
            400: problemDoc("A bad body, or a replaced path that is not a branch of the tree."),
            ...unauthorized,
            404: problemDoc("No such task, or no such checkpoint of its run."),
            500: problemDoc("The checkpoint is damaged in storage."),
            ...noManager,
            ...notConfiguredDoc(ctx.stores.snapshots, "SnapshotStore")
          }
        }
      ],
      handle: fork
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree/checkpoints/:checkpointId",
      request: readCheckpointRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/checkpoints/{checkpointId}",
          operationId: "readTreeCheckpoint",
          summary: "Read a checkpoint of the run under a task: the tree as it was, and its branch snapshot",
          tag: "tasks",
          responses: {
            200: {
              description: "The tree, and its branch snapshot with its checksum (checked).",
              schema: Schema.Struct({ tree: RunTreeView, branches: BranchSnapshot })
            },
            ...unauthorized,
            404: problemDoc("No such task, or no such checkpoint of its run."),
            500: problemDoc("The checkpoint is damaged in storage."),
            ...noManager
          }
        }
      ],
      handle: readCheckpoint
    })
  ]
}
