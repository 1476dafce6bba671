/**
 * `waypoint tasks follow`, `runs show` and `runs follow`: a task, or a run's tree (a root task and every task under
 * it, read at one instant), live from the store or from a remote app (`--url`: `GET /tasks/{id}` and
 * `GET /tasks/{id}/tree`, read every interval; the app serves no log lines, so a remote follow prints none).
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import type { RunTreeView, TaskView } from "../../http/schema.ts"
import { CommandFailed } from "../errors.ts"
import { doing, follow, percentOf, type View } from "../internal/follow.ts"
import { json, line, table } from "../output.ts"
import { type Remote, remoteFlags, remoteLogs, remoteOf, request } from "../remote.ts"
import { jsonFlag, storeFlags, target, withStores } from "../store.ts"
import { taskIdArgument, views } from "./tasks.ts"

const intervalFlag = Flag.Int("interval").pipe(
  Flag.withDescription("Milliseconds between two reads of the store"),
  Flag.filter(
    (millis) => millis >= 10,
    (millis) => `--interval must be at least 10 (milliseconds), got ${millis}`
  ),
  Flag.withDefault(500)
)

const percentText = (percent: number | undefined) => (percent === undefined ? "" : `${Math.round(percent)}%`)

const modules = Effect.all({
  ProgressStore: Effect.promise(() => import("../../stores/ProgressStore.ts")).pipe(Effect.map((m) => m.ProgressStore)),
  TaskStore: Effect.promise(() => import("../../stores/TaskStore.ts")).pipe(Effect.map((m) => m.TaskStore)),
  RunTree: Effect.promise(() => import("../../runtime/RunTree.ts"))
})

/** A task's line in a follow, from its record or its view. */
const taskRow = (
  task: Parameters<typeof doing>[0] & { readonly id: string; readonly name: string },
  progress: Option.Option<{ readonly percent?: number | undefined; readonly message?: string | undefined }>
) => ({
  key: task.id,
  label: `${task.name} ${task.id}`,
  state: doing(task),
  percent: percentOf(task.status, progress),
  message: Option.getOrUndefined(progress)?.message
})

/** A run's lines in a follow, from its tree (read from the store, or its view). */
const treeView = (
  nodes: ReadonlyArray<
    Parameters<typeof doing>[0] & {
      readonly id: string
      readonly depth: number
      readonly path: string
      readonly progress?: { readonly percent?: number | undefined; readonly message?: string | undefined } | undefined
      readonly error?: View["error"]
    }
  >
): View => {
  const root = nodes[0]
  return {
    rows: nodes.map((node) => ({
      key: node.id,
      label: `${"  ".repeat(node.depth)}${node.path.split("/").at(-1) ?? node.path}`,
      state: doing(node),
      percent: percentOf(node.status, Option.fromUndefinedOr(node.progress)),
      message: node.progress?.message
    })),
    logs: nodes.map((node) => ({ taskId: node.id, label: node.path })),
    status: root?.status ?? "pending",
    error: root?.error
  }
}

/** `GET path` of the app; a task it does not know fails as from the store. */
const askTask = (remote: Remote, id: string, path: string) =>
  Effect.catchIf(
    request(remote, "GET", `tasks/${encodeURIComponent(id)}${path}`),
    (error) => error._tag === "RemoteProblem" && error.tag === "TaskNotFound",
    () => Effect.fail(new CommandFailed({ reason: `no task with id ${id}` }))
  )

const followTask = Command.make(
  "follow",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, interval: intervalFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.follow")(function* (input) {
    const options = { taskId: input.id, intervalMillis: input.interval, json: input.json }
    const remote = remoteOf(input)
    if (Option.isSome(remote)) {
      const read = Effect.map(askTask(remote.value, input.id, ""), (answer): View => {
        const task = answer as TaskView
        return {
          rows: [taskRow(task, Option.fromUndefinedOr(task.progress))],
          logs: [{ taskId: task.id, label: task.name }],
          status: task.status,
          error: task.error
        }
      })
      return yield* follow({ ...options, read, logs: remoteLogs(remote.value) })
    }
    const store = yield* target(input)
    const { ProgressStore, TaskStore } = yield* modules
    yield* withStores(
      store,
      { migrate: false },
      Effect.gen(function* () {
        const tasks = yield* TaskStore
        const progress = yield* ProgressStore
        const read = Effect.gen(function* () {
          const found = yield* tasks.get(input.id)
          if (Option.isNone(found)) return yield* new CommandFailed({ reason: `no task with id ${input.id}` })
          const record = found.value
          return {
            rows: [taskRow(record, yield* progress.getLatest(input.id))],
            logs: [{ taskId: record.id, label: record.name }],
            status: record.status,
            error: record.error
          }
        })
        yield* follow({ ...options, read, logs: progress.listLogs })
      })
    )
  })
).pipe(
  Command.withDescription(
    "Follow a task until it ends: its progress bar and its log lines (exit code 1 if it fails or is cancelled)"
  )
)

const showRun = Command.make(
  "show",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.runs.show")(function* (input) {
    const remote = remoteOf(input)
    const tree = Option.isSome(remote)
      ? ((yield* request(remote.value, "GET", `tasks/${encodeURIComponent(input.id)}/tree`)) as RunTreeView)
      : yield* Effect.gen(function* () {
          const { RunTree } = yield* modules
          const read = yield* withStores(yield* target(input), { migrate: false }, RunTree.read(input.id))
          return (yield* views).toRunTreeView(read)
        })
    if (input.json) return yield* json(tree)
    yield* line(
      table(
        ["PATH", "STATUS", "PROGRESS", "ID"],
        tree.nodes.map((node) => [
          `${"  ".repeat(node.depth)}${node.path.split("/").at(-1) ?? node.path}`,
          doing(node),
          percentText(node.status === "completed" ? 100 : node.progress?.percent),
          node.id
        ])
      )
    )
  })
).pipe(Command.withDescription("Show a run's tree: the task and every task under it, with their key paths"))

const followRun = Command.make(
  "follow",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, interval: intervalFlag, id: taskIdArgument },
  Effect.fn("waypoint.runs.follow")(function* (input) {
    const options = { taskId: input.id, intervalMillis: input.interval, json: input.json }
    const remote = remoteOf(input)
    if (Option.isSome(remote)) {
      const read = Effect.map(askTask(remote.value, input.id, "/tree"), (answer) =>
        treeView((answer as RunTreeView).nodes)
      )
      return yield* follow({ ...options, read, logs: remoteLogs(remote.value) })
    }
    const store = yield* target(input)
    const { ProgressStore, RunTree } = yield* modules
    yield* withStores(
      store,
      { migrate: false },
      Effect.gen(function* () {
        const progress = yield* ProgressStore
        const read = Effect.map(RunTree.read(input.id), (tree) => treeView(tree.nodes))
        yield* follow({ ...options, read, logs: progress.listLogs })
      })
    )
  })
).pipe(Command.withDescription("Follow a run's tree until its root ends: a line per task, and their log lines"))

/** `waypoint tasks follow`. */
export const followTaskCommand = followTask

/** `waypoint runs`. */
export const runs = Command.make("runs").pipe(
  Command.withDescription("Runs: a root task and the tasks it started"),
  Command.withSubcommands([showRun, followRun])
)
