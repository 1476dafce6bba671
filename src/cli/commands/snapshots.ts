/**
 * `waypoint snapshots list|show|diff`: a task's snapshots (saved by the snapshot plugin), newest first; one of them
 * whole (its checksum checked); and what changed between two of them. From the store, or from a remote app
 * (`--url`: `GET /tasks/{id}/snapshots[/{version}]`); either way the commands work on the API's views.
 */
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { SnapshotPageView, SnapshotView } from "../../http/schema.ts"
import { CommandFailed } from "../errors.ts"
import { diff, formatChange } from "../internal/jsonDiff.ts"
import { json, line, table, time } from "../output.ts"
import { millis, type Remote, type RemoteChoice, remoteFlags, remoteOf, request } from "../remote.ts"
import { jsonFlag, type StoreChoice, storeFlags, target, withStores } from "../store.ts"
import { taskIdArgument, views } from "./tasks.ts"

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

const noSnapshot = (taskId: string, version: Option.Option<number>) =>
  new CommandFailed({
    reason: Option.isSome(version)
      ? `task ${taskId} has no snapshot version ${version.value}`
      : `task ${taskId} has no snapshot`
  })

/** The snapshot `version` of the task, or its newest; `CommandFailed` when there is none. */
const readSnapshot = (taskId: string, version: Option.Option<number>) =>
  Effect.gen(function* () {
    const store = yield* yield* snapshotStore
    const found = Option.isSome(version) ? yield* store.get(taskId, version.value) : yield* store.latest(taskId)
    if (Option.isNone(found)) return yield* noSnapshot(taskId, version)
    return (yield* views).toSnapshotView(found.value)
  })

const snapshotsPath = (taskId: string) => `tasks/${encodeURIComponent(taskId)}/snapshots`

/** A page of the task's snapshot summaries, as the app answers `GET /tasks/{id}/snapshots`. */
const remotePage = (remote: Remote, taskId: string, query: { readonly limit: number; readonly before?: number }) =>
  Effect.map(
    request(
      remote,
      "GET",
      `${snapshotsPath(taskId)}?${new URLSearchParams({
        limit: String(query.limit),
        ...(query.before === undefined ? {} : { before: String(query.before) })
      })}`
    ),
    (answer) => answer as SnapshotPageView
  )

/**
 * The snapshot `version` of the task, or its newest, from the app; a version it does not have is the same
 * `CommandFailed` as from the store (the newest is the first of a one-item page).
 */
const readRemoteSnapshot = (remote: Remote, taskId: string, version: Option.Option<number>) =>
  Effect.gen(function* () {
    const wanted = Option.isSome(version)
      ? version.value
      : (yield* remotePage(remote, taskId, { limit: 1 })).items[0]?.version
    if (wanted === undefined) return yield* noSnapshot(taskId, version)
    const answer = yield* Effect.catchIf(
      request(remote, "GET", `${snapshotsPath(taskId)}/${wanted}`),
      (error) => error._tag === "RemoteProblem" && error.tag === "SnapshotNotFound",
      () => Effect.fail(noSnapshot(taskId, version))
    )
    return answer as SnapshotView
  })

/** The snapshots `versions` of the task, from the app `--url` names or else from the store. */
const readSnapshots = (
  input: StoreChoice & RemoteChoice & { readonly id: string },
  versions: ReadonlyArray<Option.Option<number>>
) =>
  Effect.gen(function* () {
    const remote = remoteOf(input)
    if (Option.isSome(remote)) {
      return yield* Effect.forEach(versions, (version) => readRemoteSnapshot(remote.value, input.id, version))
    }
    return yield* withStores(
      yield* target(input),
      { migrate: false },
      Effect.forEach(versions, (version) => readSnapshot(input.id, version))
    )
  })

const list = Command.make(
  "list",
  {
    ...storeFlags,
    ...remoteFlags,
    json: jsonFlag,
    id: taskIdArgument,
    limit: Flag.Int("limit").pipe(Flag.withDescription("At most this many (newest first)"), Flag.withDefault(100)),
    before: Flag.Int("before").pipe(Flag.withDescription("Only versions below this one"), Flag.optional)
  },
  Effect.fn("waypoint.snapshots.list")(function* (input) {
    const query = {
      limit: input.limit,
      ...(Option.isSome(input.before) ? { before: input.before.value } : {})
    }
    const remote = remoteOf(input)
    const page: SnapshotPageView = Option.isSome(remote)
      ? yield* remotePage(remote.value, input.id, query)
      : (yield* views).toSnapshotPageView(
          yield* withStores(
            yield* target(input),
            { migrate: false },
            Effect.flatMap(Effect.flatMap(snapshotStore, Effect.service), (store) =>
              store.listSummaries(input.id, query)
            )
          )
        )
    if (input.json) return yield* json(page)
    if (page.items.length === 0) return yield* line(`task ${input.id} has no snapshot`)
    yield* line(
      table(
        ["VERSION", "CREATED", "BYTES", "CHECKPOINT", "ORIGIN"],
        page.items.map((snapshot) => [
          String(snapshot.version),
          time(millis(snapshot.createdAt)),
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
    ...remoteFlags,
    json: jsonFlag,
    id: taskIdArgument,
    version: versionArgument("version", "The version (default: the newest)").pipe(Argument.optional)
  },
  Effect.fn("waypoint.snapshots.show")(function* (input) {
    const [snapshot] = yield* readSnapshots(input, [input.version])
    if (snapshot === undefined) return
    if (input.json) return yield* json(snapshot)
    yield* line(`version ${snapshot.version} of ${snapshot.taskId}, ${time(millis(snapshot.createdAt))}`)
    yield* json(snapshot.data)
  })
).pipe(Command.withDescription("Show a snapshot's data (checksum checked)"))

const diffCommand = Command.make(
  "diff",
  {
    ...storeFlags,
    ...remoteFlags,
    json: jsonFlag,
    id: taskIdArgument,
    from: versionArgument("from", "The older version"),
    to: versionArgument("to", "The newer version (default: the newest)").pipe(Argument.optional)
  },
  Effect.fn("waypoint.snapshots.diff")(function* (input) {
    const [from, to] = yield* readSnapshots(input, [Option.some(input.from), input.to])
    if (from === undefined || to === undefined) return
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
