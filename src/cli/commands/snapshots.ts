/**
 * `waypoint snapshots list|show|diff`: a task's snapshots (saved by the snapshot plugin), newest first; one of them
 * whole (its checksum checked); and what changed between two of them.
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { CommandFailed } from "../errors.ts"
import { diff, formatChange } from "../internal/jsonDiff.ts"
import { json, line, table, time } from "../output.ts"
import { jsonFlag, storeFlags, target, withStores } from "../store.ts"
import { taskIdArgument } from "./tasks.ts"

const versionArgument = (name: string, description: string) =>
  Argument.Int(name).pipe(
    Argument.withDescription(description),
    Argument.filter(
      (version) => version >= 1,
      (version) => `a version is 1 or more, got ${version}`
    )
  )

const snapshotStore = Effect.map(
  Effect.promise(() => import("../../stores/SnapshotStore.ts")),
  (module) => module.SnapshotStore
)

/** The snapshot `version` of the task, or its newest; `CommandFailed` when there is none. */
const readSnapshot = (taskId: string, version: Option.Option<number>) =>
  Effect.gen(function* () {
    const store = yield* yield* snapshotStore
    const found = Option.isSome(version) ? yield* store.get(taskId, version.value) : yield* store.latest(taskId)
    if (Option.isNone(found)) {
      return yield* new CommandFailed({
        reason: Option.isSome(version)
          ? `task ${taskId} has no snapshot version ${version.value}`
          : `task ${taskId} has no snapshot`
      })
    }
    return found.value
  })

const list = Command.make(
  "list",
  {
    ...storeFlags,
    json: jsonFlag,
    id: taskIdArgument,
    limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (newest first)"), Flag.withDefault(100)),
    before: Flag.Int("before").pipe(Flag.withDescription("Only versions below this one"), Flag.optional)
  },
  Effect.fn("waypoint.snapshots.list")(function* (input) {
    const page = yield* withStores(
      yield* target(input),
      { migrate: false },
      Effect.flatMap(Effect.flatMap(snapshotStore, Effect.service), (store) =>
        store.listSummaries(input.id, { limit: input.limit, before: Option.getOrUndefined(input.before) })
      )
    )
    if (input.json) {
      const { toSnapshotPageView } = yield* Effect.promise(() => import("../../http/schema.ts"))
      return yield* json(toSnapshotPageView(page))
    }
    if (page.items.length === 0) return yield* line(`task ${input.id} has no snapshot`)
    yield* line(
      table(
        ["VERSION", "CREATED", "BYTES", "CHECKPOINT", "ORIGIN"],
        page.items.map((snapshot) => [
          String(snapshot.version),
          time(snapshot.createdAt),
          String(snapshot.dataSizeBytes),
          snapshot.checkpoint ? "yes" : "",
          snapshot.origin === undefined ? "" : `${snapshot.origin.taskId}@${snapshot.origin.version}`
        ])
      )
    )
    if (page.nextBefore !== undefined) yield* line(`more: --before ${page.nextBefore}`)
  })
).pipe(Command.withDescription("List a task's snapshots, newest first, without their data"))

const show = Command.make(
  "show",
  {
    ...storeFlags,
    json: jsonFlag,
    id: taskIdArgument,
    version: versionArgument("version", "The version (default: the newest)").pipe(Argument.optional)
  },
  Effect.fn("waypoint.snapshots.show")(function* (input) {
    const snapshot = yield* withStores(yield* target(input), { migrate: false }, readSnapshot(input.id, input.version))
    if (input.json) {
      const { toSnapshotView } = yield* Effect.promise(() => import("../../http/schema.ts"))
      return yield* json(toSnapshotView(snapshot))
    }
    yield* line(`version ${snapshot.version} of ${snapshot.taskId}, ${time(snapshot.createdAt)}`)
    yield* json(snapshot.data)
  })
).pipe(Command.withDescription("Show a snapshot's data (checksum checked)"))

const diffCommand = Command.make(
  "diff",
  {
    ...storeFlags,
    json: jsonFlag,
    id: taskIdArgument,
    from: versionArgument("from", "The older version"),
    to: versionArgument("to", "The newer version (default: the newest)").pipe(Argument.optional)
  },
  Effect.fn("waypoint.snapshots.diff")(function* (input) {
    const [from, to] = yield* withStores(
      yield* target(input),
      { migrate: false },
      Effect.all([readSnapshot(input.id, Option.some(input.from)), readSnapshot(input.id, input.to)])
    )
    const changes = diff(from.data, to.data)
    if (input.json) return yield* json({ from: from.version, to: to.version, changes })
    yield* line(`${input.id}: version ${from.version} -> ${to.version}, ${changes.length} change(s)`)
    for (const change of changes) yield* line(formatChange(change))
  })
).pipe(Command.withDescription("What changed between two snapshots of a task, path by path"))

/** `waypoint snapshots`. */
export const snapshots = Command.make("snapshots").pipe(
  Command.withDescription("A task's snapshots"),
  Command.withSubcommands([list, show, diffCommand])
)
