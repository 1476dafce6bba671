/**
 * A task's snapshots, read from the `SnapshotStore` in the app's context (a list gives summaries, one snapshot's route
 * its data), and forks: a new task of the same name, input and session that starts from one snapshot of another. A
 * fork checks everything it can before it writes: the task, its definition among the app's tasks, and the snapshot.
 */
import { Effect, Option, Schema } from "effect"
import { forkSnapshot, SnapshotNotFound, SnapshotStore, UnknownTask } from "../../index.ts"
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
  unauthorizedDoc,
  Version
} from "../route.ts"
import { SnapshotPageView, SnapshotView, TaskView, toSnapshotPageView, toSnapshotView, toTaskView } from "../schema.ts"
import { asTask } from "../task.ts"

const listRequest = {
  path: TaskPath,
  query: Schema.Struct({
    limit: Schema.optionalKey(digitsTo(Limit)).annotateKey({
      description: "Page size: 1 to 1000, default 100; a larger one is refused (400)."
    }),
    before: Schema.optionalKey(digitsTo(Version)).annotateKey({
      description: "Only versions below this one: the `nextBefore` of the previous page."
    })
  })
}

const getRequest = {
  path: Schema.Struct({
    ...TaskPath.fields,
    version: digitsTo(Version).annotateKey({ description: "The snapshot's version." })
  })
}

const ForkRequest = Schema.Struct({
  /** The snapshot version of the source task that the new task starts from. */
  version: Version
}).annotate({ identifier: "ForkRequest", description: "Which snapshot the new task starts from." })

const forkRequest = { path: TaskPath, body: ForkRequest }

export const snapshotRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime, tasks } = ctx
  const storeOf = requireService(ctx.stores.snapshots, "SnapshotStore")

  const list = Effect.fn("http.listSnapshots")(function* (input: RequestInput<typeof listRequest>) {
    const store = yield* storeOf
    const id = yield* taskId((yield* input.path).id)
    const query = yield* input.query
    yield* runtime.get(id)
    const page = yield* store.listSummaries(id, { limit: query.limit ?? 100, before: query.before })
    return json(toSnapshotPageView(page))
  })

  const get = Effect.fn("http.getSnapshot")(function* (input: RequestInput<typeof getRequest>) {
    const store = yield* storeOf
    const path = yield* input.path
    const id = yield* taskId(path.id)
    const version = path.version
    yield* runtime.get(id)
    const record = yield* store.get(id, version)
    if (Option.isNone(record)) return yield* new SnapshotNotFound({ taskId: id, version })
    return json(toSnapshotView(record.value))
  })

  const fork = Effect.fn("http.forkTask")(function* (input: RequestInput<typeof forkRequest>) {
    const store = yield* storeOf
    const id = yield* taskId((yield* input.path).id)
    const { version } = yield* input.body
    const source = yield* runtime.get(id)
    const task = tasks.get(source.name)
    if (task === undefined) return yield* new UnknownTask({ taskName: source.name })
    // The stored input was encoded by this definition; one that no longer decodes is the server's data, not the
    // request's.
    const taskInput = yield* Effect.orDie(Schema.decodeUnknownEffect(task.input)(source.input))
    const newId = crypto.randomUUID()
    // A fresh id has no snapshots, so the copy becomes its version 1. Should the submit fail, the copy stays
    // behind under an id no task will ever have.
    yield* forkSnapshot(id, version, newId).pipe(Effect.provideService(SnapshotStore, store))
    const handle = yield* runtime.submit(asTask(task), taskInput, { id: newId, session: source.sessionId })
    const record = yield* runtime.get(handle.id)
    // `/tasks/{id}/fork` -> `/tasks/{newId}`, under whatever prefix the app is mounted at.
    const location = new URL(`../${encodeURIComponent(record.id)}`, input.raw.url).pathname
    return json(toTaskView(record), 201, { location })
  })

  const unauthorized = unauthorizedDoc(ctx)
  const notConfigured = notConfiguredDoc(ctx.stores.snapshots, "SnapshotStore")

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/snapshots",
      request: listRequest,
      docs: [
        {
          path: "/tasks/{id}/snapshots",
          operationId: "listSnapshots",
          summary: "List a task's snapshots, newest first, without their data (read a snapshot for it)",
          tag: "snapshots",
          responses: {
            200: { description: "One page of snapshots.", schema: SnapshotPageView },
            400: problemDoc("A bad limit or before."),
            ...unauthorized,
            404: problemDoc("No such task."),
            ...notConfigured
          }
        }
      ],
      handle: list
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/snapshots/:version",
      request: getRequest,
      docs: [
        {
          path: "/tasks/{id}/snapshots/{version}",
          operationId: "getSnapshot",
          summary: "Read one snapshot of a task",
          tag: "snapshots",
          responses: {
            200: { description: "The snapshot.", schema: SnapshotView },
            400: problemDoc("A version that is not a whole number from 1."),
            ...unauthorized,
            404: problemDoc("No such task, or no such version (never saved, or pruned)."),
            ...notConfigured
          }
        }
      ],
      handle: get
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/fork",
      request: forkRequest,
      docs: [
        {
          path: "/tasks/{id}/fork",
          operationId: "forkTask",
          summary:
            "Start a new task of the same name, input and session whose version 1 is a copy of one snapshot of this task",
          tag: "snapshots",
          responses: {
            201: { description: "The new task, started.", schema: TaskView },
            400: problemDoc("The body is not valid JSON or not a fork request."),
            ...unauthorized,
            404: problemDoc("No such task, no such snapshot, or the task is not one this server may start."),
            413: problemDoc("The body is larger than the limit."),
            415: problemDoc("The body is not application/json."),
            ...notConfigured
          }
        }
      ],
      handle: fork
    })
  ]
}
