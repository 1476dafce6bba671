/**
 * `waypoint tasks list|show|why`: reading tasks from the store, or from a remote app (`--url`), as the HTTP adapter's
 * `GET /tasks` and `GET /tasks/:id` answer them: the same JSON with `--json`, and the same text either way.
 */
import { Clock, Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { InspectionView, TaskSummaryView, TaskView } from "../../http/schema.ts"
import { isTerminal } from "../../stores/TaskRecord.ts"
import { explain } from "../internal/explain.ts"
import { fields, json, line, table } from "../output.ts"
import { millis, remoteFlags, remoteOf, request } from "../remote.ts"
import { jsonFlag, storeFlags, target, withRuntime, withStores } from "../store.ts"

const statuses = ["pending", "running", "suspended", "completed", "failed", "cancelled"] as const

/** The id argument of every command on one task. */
export const taskIdArgument = Argument.String("id").pipe(Argument.withDescription("The task's id"))

/** The HTTP API's views of records (its JSON shapes), loaded when a command prints. */
export const views = Effect.promise(() => import("../../http/schema.ts"))

/** An RFC 3339 time as `2026-12-07 06:20:43Z`. */
const time = (iso: string | undefined) => (iso === undefined ? "-" : `${iso.slice(0, 19).replace("T", " ")}Z`)

const list = Command.make(
  "list",
  {
    ...storeFlags,
    ...remoteFlags,
    json: jsonFlag,
    status: Flag.Literals("status", statuses).pipe(Flag.withDescription("Only tasks in this status"), Flag.optional),
    name: Flag.String("name").pipe(Flag.withDescription("Only tasks of this name"), Flag.optional),
    session: Flag.String("session").pipe(Flag.withDescription("Only tasks of this session"), Flag.optional),
    parent: Flag.String("parent").pipe(Flag.withDescription("Only the children of this task"), Flag.optional),
    limit: Flag.Int("limit").pipe(
      Flag.withDescription("At most this many tasks (1 to 1000)"),
      Flag.filter(
        (limit) => limit >= 1 && limit <= 1000,
        (limit) => `--limit must be 1 to 1000, got ${limit}`
      ),
      Flag.withDefault(100)
    ),
    cursor: Flag.String("cursor").pipe(Flag.withDescription("The nextCursor of the previous page"), Flag.optional)
  },
  Effect.fn("waypoint.tasks.list")(function* (input) {
    const query = {
      status: Option.getOrUndefined(input.status),
      name: Option.getOrUndefined(input.name),
      session: Option.getOrUndefined(input.session),
      parent: Option.getOrUndefined(input.parent),
      cursor: Option.getOrUndefined(input.cursor),
      limit: input.limit
    }
    const remote = remoteOf(input)
    const page = Option.isSome(remote)
      ? ((yield* request(
          remote.value,
          "GET",
          `tasks?${new URLSearchParams(
            Object.entries(query).flatMap(
              ([key, value]): Array<[string, string]> => (value === undefined ? [] : [[key, String(value)]])
            )
          )}`
        )) as { readonly items: ReadonlyArray<TaskSummaryView>; readonly nextCursor?: string })
      : yield* localList(yield* target(input), query)
    if (input.json) return yield* json(page)
    if (page.items.length === 0) return yield* line("no tasks")
    yield* line(
      table(
        ["ID", "NAME", "STATUS", "ATTEMPT", "CREATED", "ERROR"],
        page.items.map((task) => [
          task.id,
          task.name,
          task.status,
          String(task.attempt),
          time(task.createdAt),
          task.error === undefined ? "" : task.error.tag
        ])
      )
    )
    if (page.nextCursor !== undefined) yield* line(`more: --cursor ${page.nextCursor}`)
  })
).pipe(
  Command.withDescription("List tasks, oldest first"),
  Command.withExamples([
    { command: "waypoint tasks list --status failed --data-dir .waypoint", description: "Failed tasks" }
  ])
)

const localList = Effect.fnUntraced(function* (
  store: Effect.Success<ReturnType<typeof target>>,
  query: {
    readonly status: (typeof statuses)[number] | undefined
    readonly name: string | undefined
    readonly session: string | undefined
    readonly parent: string | undefined
    readonly cursor: string | undefined
    readonly limit: number
  }
) {
  const { TaskStore } = yield* Effect.promise(() => import("../../stores/TaskStore.ts"))
  const { fromCursorText, toCursorText, toTaskSummaryView } = yield* views
  // a cursor in the HTTP API's form: one that `--url` gave works here, and the other way round
  const cursor = query.cursor === undefined ? undefined : yield* fromCursorText(query.cursor)
  const page = yield* withStores(
    store,
    { migrate: false },
    Effect.flatMap(Effect.service(TaskStore), (tasks) =>
      tasks.listSummaries({
        status: query.status,
        name: query.name,
        sessionId: query.session,
        parentId: query.parent,
        cursor,
        limit: query.limit
      })
    )
  )
  return {
    items: page.items.map(toTaskSummaryView),
    ...(page.nextCursor === undefined ? {} : { nextCursor: toCursorText(page.nextCursor) })
  }
})

/** A task as `GET /tasks/:id` answers it: with its progress, why it is where it is, and its children's count. */
const readTask = Effect.fnUntraced(function* (input: {
  readonly id: string
  readonly dataDir: Option.Option<string>
  readonly databaseUrl: Option.Option<string>
  readonly url: Option.Option<string>
  readonly token: Option.Option<string>
}) {
  const remote = remoteOf(input)
  if (Option.isSome(remote)) {
    return (yield* request(remote.value, "GET", `tasks/${encodeURIComponent(input.id)}`)) as TaskView
  }
  const { ProgressStore } = yield* Effect.promise(() => import("../../stores/ProgressStore.ts"))
  const { TaskStore } = yield* Effect.promise(() => import("../../stores/TaskStore.ts"))
  const { record, progress, inspection, children } = yield* withStores(
    yield* target(input),
    { migrate: false },
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const record = yield* runtime.get(input.id)
        const progress = yield* (yield* ProgressStore).getLatest(record.id)
        const inspection = yield* runtime.inspect(record.id)
        const children = yield* (yield* TaskStore).childSummaries(record.id)
        return { record, progress, inspection, children }
      })
    )
  )
  const { toTaskView, toProgressView, toInspectionView } = yield* views
  const ended = children.filter((child) => isTerminal(child.status)).length
  const view: TaskView = {
    ...toTaskView(record),
    ...(Option.isSome(progress) ? { progress: toProgressView(progress.value) } : {}),
    inspection: toInspectionView(inspection),
    ...(children.length === 0 ? {} : { children: { total: children.length, ended } })
  }
  return view
})

const show = Command.make(
  "show",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.show")(function* (input) {
    const task = yield* readTask(input)
    if (input.json) return yield* json(task)
    const progress = task.progress
    yield* line(
      fields([
        ["id", task.id],
        ["name", task.name],
        ["status", task.status],
        ["why", task.inspection?.reason],
        ["attempt", String(task.attempt)],
        ["session", task.sessionId],
        ["parent", task.parentId],
        ["key", task.childKey],
        ["created", time(task.createdAt)],
        ["started", task.startedAt === undefined ? undefined : time(task.startedAt)],
        ["finished", task.finishedAt === undefined ? undefined : time(task.finishedAt)],
        ["deadline", task.deadline === undefined ? undefined : time(task.deadline)],
        [
          "progress",
          progress === undefined
            ? undefined
            : `${progress.percent ?? "?"}% ${progress.message ?? ""}${progress.status === undefined ? "" : ` (${progress.status})`}`.trim()
        ],
        ["children", task.children === undefined ? undefined : `${task.children.total} (${task.children.ended} ended)`],
        ["input", JSON.stringify(task.input)],
        ["output", task.output === undefined ? undefined : JSON.stringify(task.output)],
        ["error", task.error === undefined ? undefined : `${task.error.tag}: ${task.error.message}`]
      ])
    )
  })
).pipe(Command.withDescription("Show a task: its input, output or error, progress and children"))

/** An inspection as the API shows it, back to epoch milliseconds. */
const fromView = ({ leaseExpiresAt, lastHeartbeatAt, runAt, ...rest }: InspectionView) => ({
  ...rest,
  ...(leaseExpiresAt === undefined ? {} : { leaseExpiresAt: millis(leaseExpiresAt) as number }),
  ...(lastHeartbeatAt === undefined ? {} : { lastHeartbeatAt: millis(lastHeartbeatAt) as number }),
  ...(runAt === undefined ? {} : { runAt: millis(runAt) as number })
})

const why = Command.make(
  "why",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.why")(function* (input) {
    const remote = remoteOf(input)
    const inspection: InspectionView | undefined = Option.isSome(remote)
      ? (yield* readTask(input)).inspection
      : yield* Effect.flatMap(
          withStores(
            yield* target(input),
            { migrate: false },
            withRuntime((runtime) => runtime.inspect(input.id))
          ),
          (found) => Effect.map(views, ({ toInspectionView }) => toInspectionView(found))
        )
    if (inspection === undefined) return yield* line(`${input.id}: the app did not say why`)
    if (input.json) return yield* json(inspection)
    yield* line(explain(fromView(inspection), yield* Clock.currentTimeMillis))
  })
).pipe(
  Command.withDescription("Say why a task is where it is: running, waiting for a signal or children, queued, stuck")
)

/** The reading subcommands of `waypoint tasks`. */
export const readCommands = [list, show, why] as const
