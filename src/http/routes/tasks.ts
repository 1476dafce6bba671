/**
 * The task resource: start a task by name, list tasks, read one (with its latest progress when the server keeps
 * progress), cancel one. A start decodes the body with the task's input Schema before anything is stored, and an
 * `Idempotency-Key` makes a retried start return the task the first one created.
 */
import { Effect, Equal, Option, Schema } from "effect"
import type { Context } from "hono"
import { InvalidTaskInput, TaskStatus, UnknownTask } from "../../index.ts"
import { IdempotencyKeyReused } from "../errors.ts"
import { readJsonBody } from "../internal/body.ts"
import {
  badRequest,
  json,
  Limit,
  noControlCharacters,
  type OperationDoc,
  type ParameterDoc,
  problemDoc,
  type Route,
  type RouteContext,
  Token,
  taskIdParam,
  taskIdParameter,
  unauthorizedDoc
} from "../route.ts"
import { TaskPageView, TaskView, toProgressView, toTaskSummaryView, toTaskView } from "../schema.ts"
import { type AnyHttpTask, asTask } from "../task.ts"

const Cursor = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(2048), noControlCharacters)
const IdempotencyKey = Schema.String.check(
  Schema.isMinLength(1),
  Schema.isMaxLength(255),
  Schema.isPattern(/^[\u0021-\u007e]+$/)
)

const ListQuery = Schema.Struct({
  status: Schema.optionalKey(TaskStatus),
  name: Schema.optionalKey(Token),
  session: Schema.optionalKey(Token),
  cursor: Schema.optionalKey(Schema.StringFromBase64Url.pipe(Schema.decodeTo(Cursor))),
  limit: Schema.optionalKey(Schema.NumberFromString.pipe(Schema.decodeTo(Limit)))
})

const decodeListQuery = Schema.decodeUnknownEffect(ListQuery)
const decodeToken = Schema.decodeUnknownEffect(Token)
const decodeIdempotencyKey = Schema.decodeUnknownEffect(IdempotencyKey)
const encodeCursor = Schema.encodeSync(Schema.StringFromBase64Url)

const optionalToken = (value: string | undefined, what: string) =>
  value === undefined ? Effect.succeed(undefined) : Effect.mapError(decodeToken(value), badRequest(what))

export const taskRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime, tasks } = ctx

  const submit = Effect.fn("http.submitTask")(function* (c: Context) {
    const name = c.req.param("name") ?? ""
    const task: AnyHttpTask | undefined = tasks.get(name)
    if (task === undefined) return yield* new UnknownTask({ taskName: name.slice(0, 255) })
    const headerKey = c.req.header("idempotency-key")
    const idempotencyKey =
      headerKey === undefined
        ? undefined
        : yield* Effect.mapError(decodeIdempotencyKey(headerKey), badRequest("invalid Idempotency-Key header"))
    const session = yield* optionalToken(c.req.query("session"), "invalid session")
    const body = yield* readJsonBody(c.req.raw, ctx.bodyLimitBytes)
    const input = yield* Schema.decodeUnknownEffect(task.input)(body).pipe(
      Effect.mapError((error) => new InvalidTaskInput({ taskName: task.name, issue: error.message }))
    )
    const id = crypto.randomUUID()
    // Keys are scoped by task: one key reused for another task starts that task, never drives the first.
    const handle = yield* runtime.submit(asTask(task), input, {
      id,
      session,
      idempotencyKey: idempotencyKey === undefined ? undefined : `http:${task.name}:${idempotencyKey}`
    })
    const record = yield* runtime.get(handle.id)
    const location = new URL(encodeURIComponent(record.id), c.req.url).pathname
    if (record.id === id) return json(toTaskView(record), 201, { location })
    // A replay: the same key must mean the same request, or the client would believe its own request started.
    const encoded = yield* Effect.orDie(Schema.encodeUnknownEffect(task.input)(input))
    const isSameRequest = record.sessionId === session && Equal.equals(record.input, encoded)
    if (!isSameRequest) return yield* new IdempotencyKeyReused({ taskId: record.id })
    return json(toTaskView(record), 200, { location })
  })

  const list = Effect.fn("http.listTasks")(function* (c: Context) {
    const query = yield* Effect.mapError(decodeListQuery(c.req.query()), badRequest("invalid query"))
    const page = yield* runtime.list({
      status: query.status,
      name: query.name,
      sessionId: query.session,
      cursor: query.cursor,
      limit: query.limit ?? 100
    })
    const body: TaskPageView = {
      items: page.items.map(toTaskSummaryView),
      ...(page.nextCursor === undefined ? {} : { nextCursor: encodeCursor(page.nextCursor) })
    }
    return json(body)
  })

  const get = Effect.fn("http.getTask")(function* (c: Context) {
    const record = yield* runtime.get(yield* taskIdParam(c))
    const progress = ctx.stores.progress
    const latest = Option.isSome(progress) ? yield* progress.value.getLatest(record.id) : Option.none()
    const inspection = yield* runtime.inspect(record.id)
    return json({
      ...toTaskView(record),
      ...(Option.isSome(latest) ? { progress: toProgressView(latest.value) } : {}),
      inspection
    })
  })

  const cancel = Effect.fn("http.cancelTask")(function* (c: Context) {
    const id = yield* taskIdParam(c)
    yield* runtime.cancel(id)
    return json(toTaskView(yield* runtime.get(id)))
  })

  const sessionParameter: ParameterDoc = {
    name: "session",
    in: "query",
    required: false,
    description: "The session the task belongs to.",
    schema: Token
  }
  const submitDocs = Array.from(
    tasks.values(),
    (task): OperationDoc => ({
      path: `/tasks/${encodeURIComponent(task.name)}`,
      operationId: `start_${task.name.replace(/[^A-Za-z0-9_]/g, "_")}`,
      summary: `Start a "${task.name}" task`,
      tag: "tasks",
      parameters: [
        sessionParameter,
        {
          name: "Idempotency-Key",
          in: "header",
          required: false,
          description: "A retried request with the same key returns the task the first one started.",
          schema: IdempotencyKey
        }
      ],
      requestBody: task.input,
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
    { method: "POST", path: "/tasks/:name", docs: submitDocs, handle: submit },
    {
      method: "GET",
      path: "/tasks",
      docs: [
        {
          path: "/tasks",
          operationId: "listTasks",
          summary: "List tasks, oldest first, without their input and output (read a task for those)",
          tag: "tasks",
          parameters: [
            {
              name: "status",
              in: "query",
              required: false,
              description: "Only tasks in this status.",
              schema: TaskStatus
            },
            { name: "name", in: "query", required: false, description: "Only tasks of this name.", schema: Token },
            {
              name: "session",
              in: "query",
              required: false,
              description: "Only tasks of this session.",
              schema: Token
            },
            {
              name: "cursor",
              in: "query",
              required: false,
              description: "The `nextCursor` of the previous page.",
              schema: Schema.String
            },
            {
              name: "limit",
              in: "query",
              required: false,
              description: "Page size: 1 to 1000, default 100; a larger one is refused (400).",
              schema: Limit
            }
          ],
          responses: {
            200: { description: "One page of tasks.", schema: TaskPageView },
            400: problemDoc("A bad filter, cursor or limit."),
            ...unauthorizedDoc(ctx)
          }
        }
      ],
      handle: list
    },
    {
      method: "GET",
      path: "/tasks/:id",
      docs: [
        {
          path: "/tasks/{id}",
          operationId: "getTask",
          summary: "Read a task, with its latest progress when the server keeps progress",
          tag: "tasks",
          parameters: [taskIdParameter],
          responses: {
            200: { description: "The task.", schema: TaskView },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task.")
          }
        }
      ],
      handle: get
    },
    {
      method: "POST",
      path: "/tasks/:id/cancel",
      docs: [
        {
          path: "/tasks/{id}/cancel",
          operationId: "cancelTask",
          summary: "Cancel a task and its unfinished children; a finished task stays as it is",
          tag: "tasks",
          parameters: [taskIdParameter],
          responses: {
            200: { description: "The task after the cancel.", schema: TaskView },
            ...unauthorizedDoc(ctx),
            404: problemDoc("No such task.")
          }
        }
      ],
      handle: cancel
    }
  ]
}
