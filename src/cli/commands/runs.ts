/**
 * `waypoint tasks follow`, `runs show` and `runs follow`: a task, or a run's tree (a root task and every task under
 * it, read at one instant), live from the store.
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import type { RunTreeView } from "../../http/schema.ts"
import { CommandFailed } from "../errors.ts"
import { doing, follow, percentOf } from "../internal/follow.ts"
import { json, line, table } from "../output.ts"
import { remoteFlags, remoteOf, request } from "../remote.ts"
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

const followTask = Command.make(
  "follow",
  { ...storeFlags, json: jsonFlag, interval: intervalFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.follow")(function* (input) {
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
          const latest = yield* progress.getLatest(input.id)
          return {
            rows: [
              {
                key: record.id,
                label: `${record.name} ${record.id}`,
                state: doing(record),
                percent: percentOf(record.status, latest),
                message: Option.getOrUndefined(latest)?.message
              }
            ],
            logs: [{ taskId: record.id, label: record.name }],
            status: record.status,
            error: record.error
          }
        })
        yield* follow({ taskId: input.id, read, progress, intervalMillis: input.interval, json: input.json })
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
  { ...storeFlags, json: jsonFlag, interval: intervalFlag, id: taskIdArgument },
  Effect.fn("waypoint.runs.follow")(function* (input) {
    const store = yield* target(input)
    const { ProgressStore, RunTree } = yield* modules
    yield* withStores(
      store,
      { migrate: false },
      Effect.gen(function* () {
        const progress = yield* ProgressStore
        const read = Effect.map(RunTree.read(input.id), (tree) => {
          const root = tree.nodes[0]
          return {
            rows: tree.nodes.map((node) => ({
              key: node.id,
              label: `${"  ".repeat(node.depth)}${node.path.split("/").at(-1) ?? node.path}`,
              state: doing(node),
              percent: percentOf(node.status, Option.fromUndefinedOr(node.progress)),
              message: node.progress?.message
            })),
            logs: tree.nodes.map((node) => ({ taskId: node.id, label: node.path })),
            status: root?.status ?? "pending",
            error: root?.error
          }
        })
        yield* follow({ taskId: input.id, read, progress, intervalMillis: input.interval, json: input.json })
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
