/**
 * `waypoint checkpoints list|fork`: the named checkpoints of a run's tree (`TreeCheckpoints`, kept by a
 * `StateManager` over the store's `StorageBackend`), and a new tree forked from one: completed branches keep their
 * results, the others run again from what they had recorded. The new root is left `pending` for a worker. With
 * `--url`, the app's `GET /tasks/{id}/tree/checkpoints` and `POST .../{checkpointId}/fork` do the same.
 */
import { Effect, Option, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { CheckpointView, TaskView } from "../../http/schema.ts"
import { UsageError } from "../errors.ts"
import { json, line, table, time } from "../output.ts"
import { millis, remoteFlags, remoteOf, request } from "../remote.ts"
import { jsonFlag, storeFlags, target, withStores } from "../store.ts"
import { taskIdArgument, views } from "./tasks.ts"

/** `TreeCheckpoints`, and `StateManager` (its layer runs over the store's `StorageBackend`), loaded when used. */
const modules = Effect.promise(() => import("../../plugins/snapshots/index.ts"))

/** What `GET /tasks/{id}/tree/checkpoints` answers. */
interface RemoteCheckpoints {
  readonly items: ReadonlyArray<{ readonly id: string; readonly name: string; readonly createdAt: number }>
}

/**
 * A root id the app accepts in the fork route of `checkpointId` (`checkpoint_run-{rootId}_{name}_{time}`): the app
 * only checks that the id starts with `checkpoint_run-{rootId}_`, so the text up to the first `_` does, even when
 * the root's id holds one. An id of another shape is sent whole, for the app to answer that it has no such one.
 */
const rootOf = (checkpointId: string, sessionOf: (rootId: string) => string): string => {
  const prefix = `checkpoint_${sessionOf("")}`
  if (!checkpointId.startsWith(prefix)) return checkpointId
  const rest = checkpointId.slice(prefix.length)
  const end = rest.indexOf("_")
  return end <= 0 ? checkpointId : rest.slice(0, end)
}

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

const list = Command.make(
  "list",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.checkpoints.list")(function* (input) {
    const { TreeCheckpoints, StateManager } = yield* modules
    const { toCheckpointView } = yield* views
    const remote = remoteOf(input)
    const checkpoints: ReadonlyArray<CheckpointView> = Option.isSome(remote)
      ? // the app answers without the session and with epoch milliseconds: the run's session is its root's
        (
          (yield* request(
            remote.value,
            "GET",
            `tasks/${encodeURIComponent(input.id)}/tree/checkpoints`
          )) as RemoteCheckpoints
        ).items.map((checkpoint) => toCheckpointView({ ...checkpoint, sessionId: TreeCheckpoints.sessionOf(input.id) }))
      : (yield* withStores(
          yield* target(input),
          { migrate: false },
          Effect.provide(TreeCheckpoints.list(input.id), StateManager.layer())
        )).map(toCheckpointView)
    if (input.json) return yield* json({ items: checkpoints })
    if (checkpoints.length === 0) return yield* line(`the run ${input.id} has no checkpoint`)
    yield* line(
      table(
        ["ID", "NAME", "CREATED"],
        checkpoints.map((checkpoint) => [checkpoint.id, checkpoint.name, time(millis(checkpoint.createdAt))])
      )
    )
  })
).pipe(Command.withDescription("List the checkpoints of a run (by its root task's id), oldest first"))

const fork = Command.make(
  "fork",
  {
    ...storeFlags,
    ...remoteFlags,
    json: jsonFlag,
    checkpoint: Argument.String("checkpoint").pipe(Argument.withDescription("The checkpoint's id")),
    replace: Flag.KeyValuePair("replace").pipe(
      Flag.withDescription("A branch's new input, as <key path>=<json> (repeatable): it runs again with it"),
      Flag.optional
    )
  },
  Effect.fn("waypoint.checkpoints.fork")(function* (input) {
    const replace: Record<string, Schema.Json> = {}
    if (input.replace._tag === "Some") {
      for (const [path, text] of Object.entries(input.replace.value)) {
        replace[path] = yield* decodeJson(text).pipe(
          Effect.mapError(() => new UsageError({ reason: `the input for ${path} is not JSON: ${text.slice(0, 80)}` }))
        )
      }
    }
    const { TreeCheckpoints, StateManager } = yield* modules
    const remote = remoteOf(input)
    const rootId = Option.isSome(remote)
      ? (
          (yield* request(
            remote.value,
            "POST",
            `tasks/${encodeURIComponent(rootOf(input.checkpoint, TreeCheckpoints.sessionOf))}/tree/checkpoints/${encodeURIComponent(input.checkpoint)}/fork`,
            { replace }
          )) as TaskView
        ).id
      : yield* withStores(
          yield* target(input),
          { migrate: false },
          Effect.provide(TreeCheckpoints.fork(input.checkpoint, { replace }), StateManager.layer())
        )
    if (input.json) return yield* json({ rootId })
    yield* line(`forked ${rootId} from checkpoint ${input.checkpoint}: a worker that knows its tasks runs it`)
  })
).pipe(Command.withDescription("Start a new tree from a checkpoint; completed branches do not run again"))

/** `waypoint checkpoints`. */
export const checkpoints = Command.make("checkpoints").pipe(
  Command.withDescription("Checkpoints of runs, and forks from them"),
  Command.withSubcommands([list, fork])
)
