/**
 * The task resource: start a task by name, list tasks, read one (with its latest progress when the server keeps
 * progress), cancel one. A start decodes the body with the task's input Schema before anything is stored, and an
 * `Idempotency-Key` makes a retried start return the task the first one created.
 */
import { Effect, Equal, Option, Schema } from "effect"
import { InvalidTaskInput, isTerminal, TaskStatus, UnknownTask } from "../../index.ts"
import { orderedId } from "../../runtime/internal/ids.ts"
import { IdempotencyKeyReused } from "../errors.ts"
import { readJsonBody } from "../internal/body.ts"
import { digitsTo, type RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  Limit,
  type OperationDoc,
  problemDoc,
  type Route,
  type RouteContext,
  TaskPath,
  Token,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import {
  CursorText,
  fromCursorText,
  TaskPageView,
  TaskView,
  toCursorText,
  toInspectionView,
  toProgressView,
  toTaskSummaryView,
  toTaskView
} from "../schema.ts"
import { type AnyHttpTask, asTask } from "../task.ts"

const IdempotencyKey = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(255),
  Schema.isPattern(/^[\u0021-\u007e]+$/u)
)

const StartPath = Schema.Struct({ name: Schema.String.annotateKey({ description: "The task's name." }) })
/**
 * An RFC 3339 date-time as a `Date`; an invalid one (`new Date` rolls 2030-02-31 over into March) as an invalid
 * `Date`, which the runtime refuses with `InvalidTaskInput`.
 */
const calendarDate = (text: string): Date => {
  const [year, month, day] = text.slice(0, 10).split("-").map(Number) as [number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day))
  const isReal = date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day
  return isReal ? new Date(text) : new Date(Number.NaN)
}

const StartQuery = Schema.Struct({
  session: Schema.optionalKey(Token).annotateKey({ description: "The session the task belongs to." }),
  // a date-time as RFC 3339 writes it (not whatever `new Date` reads, such as "1", the year 2001)
  deadline: Schema.optionalKey(
    Schema.String.check(
      Schema.isPattern(
        /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$/u
      )
    )
  ).annotateKey({
    description:
      "When the task must have ended, an ISO 8601 date-time: past it, the task fails with DeadlineExceeded, and its unfinished children are cancelled."
  })
})
const StartHeaders = Schema.Struct({
  "Idempotency-Key": Schema.optionalKey(IdempotencyKey).annotateKey({
    description: "A retried request with the same key returns the task the first one started."
  })
})

const ListQuery = Schema.Struct({
  status: Schema.optionalKey(TaskStatus).annotateKey({ description: "Only tasks in this status." }),
  name: Schema.optionalKey(Token).annotateKey({ description: "Only tasks of this name." }),
  session: Schema.optionalKey(Token).annotateKey({ description: "Only tasks of this session." }),
  parent: Schema.optionalKey(Token).annotateKey({ description: "Only the children of this task." }),
  cursor: Schema.optionalKey(CursorText).annotateKey({ description: "The `nextCursor` of the previous page." }),
  limit: Schema.optionalKey(digitsTo(Limit)).annotateKey({
    description: "Page size: 1 to 1000, default 100; a larger one is refused (400)."
  })
})

export const taskRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  /** How many children the task has, and how many have ended: from its children's summaries, read at once. */
  const childCounts = (parentId: string) =>
    Effect.map(ctx.stores.tasks.childSummaries(parentId), (children) => ({
      total: children.length,
      ended: children.filter((child) => isTerminal(child.status)).length
    }))

  const { runtime, tasks } = ctx
  const startRequest = { path: StartPath, query: StartQuery, headers: StartHeaders }

  const submit = Effect.fn("http.submitTask")(function* (input: RequestInput<typeof startRequest>) {
    const { name } = yield* input.path
    const task: AnyHttpTask | undefined = tasks.get(name)
    if (task === undefined) return yield* new UnknownTask({ taskName: name.slice(0, 255) })
    const idempotencyKey = (yield* input.headers)["Idempotency-Key"]
    const { session, deadline } = yield* input.query
    // The body's Schema is the task's: each task's operation documents it (`OperationDoc.body`).
    const body = yield* readJsonBody(input.raw, ctx.bodyLimitBytes)
    const decoded = yield* Schema.decodeUnknownEffect(task.input)(body).pipe(
      Effect.mapError((error) => new InvalidTaskInput({ taskName: task.name, issue: error.message }))
    )
    // A UUIDv7, as the runtime makes them: tasks started over HTTP sort in the order they were made too.
    const id = orderedId()
    // Keys are scoped by task: one key reused for another task starts that task, never drives the first.
    const handle = yield* runtime.submit(asTask(task), decoded, {
      id,
      session,
      deadline: deadline === undefined ? undefined : calendarDate(deadline),
      idempotencyKey: idempotencyKey === undefined ? undefined : `http:${task.name}:${idempotencyKey}`
    })
    const record = yield* runtime.get(handle.id)
    const location = new URL(encodeURIComponent(record.id), input.raw.url).pathname
    if (record.id === id) return json(toTaskView(record), 201, { location })
    // A replay: the same key must mean the same request, or the client would believe its own request started.
    const encoded = yield* Effect.orDie(Schema.encodeUnknownEffect(task.input)(decoded))
    const isSameRequest = record.sessionId === session && Equal.equals(record.input, encoded)
    if (!isSameRequest) return yield* new IdempotencyKeyReused({ taskId: record.id })
    return json(toTaskView(record), 200, { location })
  })

  const list = Effect.fn("http.listTasks")(function* (input: RequestInput<{ query: typeof ListQuery }>) {
    const query = yield* input.query
    const page = yield* ctx.stores.tasks.listSummaries({
      status: query.status,
      name: query.name,
      sessionId: query.session,
      parentId: query.parent,
      cursor: query.cursor === undefined ? undefined : yield* fromCursorText(query.cursor),
      limit: query.limit ?? 100
    })
    const body: TaskPageView = {
      items: page.items.map(toTaskSummaryView),
      ...(page.nextCursor === undefined ? {} : { nextCursor: toCursorText(page.nextCursor) })
    }
    return json(body)
  })

  const get = Effect.fn("http.getTask")(function* (input: RequestInput<{ path: typeof TaskPath }>) {
    const record = yield* runtime.get(yield* taskId((yield* input.path).id))
    const progress = ctx.stores.progress
    const latest = Option.isSome(progress) ? yield* progress.value.getLatest(record.id) : Option.none()
    const inspection = yield* runtime.inspect(record.id)
    const children = yield* childCounts(record.id)
    return json({
      ...toTaskView(record),
      ...(Option.isSome(latest) ? { progress: toProgressView(latest.value) } : {}),
      inspection: toInspectionView(inspection),
      ...(children.total === 0 ? {} : { children })
    })
  })

  const cancel = Effect.fn("http.cancelTask")(function* (input: RequestInput<{ path: typeof TaskPath }>) {
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.cancel(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const submitDocs = Array.from(
    tasks.values(),
    (task): OperationDoc => ({
      path: `/tasks/${encodeURIComponent(task.name)}`,
      operationId: `start_${task.name.replace(/[^A-Za-z0-9_]/g, "_")}`,
      summary: `Start a "${task.name}" task`,
      tag: "tasks",
      body: task.input,
      responses: {
        200: {
          description: "A replay: the task an earlier request with this Idempotency-Key started.",
          schema: TaskView
        },
        201: { description: "The task, started.", schema: TaskView },
        400: problemDoc("The body is not valid JSON or does not match the task's input Schema."),
        ...unauthorizedDoc(ctx),
        409: problemDoc("The Idempotency-Key was used for a different request."),
        413: problemDoc("The body is larger than the limit."),
        415: problemDoc("The body is not application/json.")
      }
    })
  )

  return [
    defineRoute(ctx, { method: "POST", path: "/tasks/:name", request: startRequest, docs: submitDocs, handle: submit }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks",
      request: { query: ListQuery },
      docs: [
        {
          path: "/tasks",
          operationId: "listTasks",
          summary: "List tasks, oldest first, without their input and output (read a task for those)",
          tag: "tasks",
          responses: {
            200: { description: "One page of tasks.", schema: TaskPageView },
            400: problemDoc("A bad filter, cursor or limit."),
            ...unauthorizedDoc(ctx)
          }
        }
      ],
      handle: list
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id",
      request: { path: TaskPath },
      docs: [
        {
          path: "/tasks/{id}",
          operationId: "getTask",
          summary: "Read a task, with its latest progress when the server keeps progress",
          tag: "tasks",
          responses: {
            200: { description: "The task.", schema: TaskView },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task.")
          }
        }
      ],
      handle: get
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/cancel",
      request: { path: TaskPath },
      docs: [
        {
          path: "/tasks/{id}/cancel",
          operationId: "cancelTask",
          summary: "Cancel a task and its unfinished children; a finished task stays as it is",
          tag: "tasks",
          responses: {
            200: { description: "The task after the cancel.", schema: TaskView },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task.")
          }
        }
      ],
      handle: cancel
    })
  ]
}
