/**
 * `waypoint checkpoints list|fork`: the named checkpoints of a run's tree (`TreeCheckpoints`, kept by a
 * `StateManager` over the store's `StorageBackend`), and a new tree forked from one: completed branches keep their
 * results, the others run again from what they had recorded. The new root is left `pending` for a worker.
 */
import { Effect, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { UsageError } from "../errors.ts"
import { json, line, table, time } from "../output.ts"
import { jsonFlag, storeFlags, target, withStores } from "../store.ts"
import { taskIdArgument } from "./tasks.ts"

/** `TreeCheckpoints`, and `StateManager` (its layer runs over the store's `StorageBackend`), loaded when used. */
const modules = Effect.promise(() => import("../../plugins/snapshots/index.ts"))

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

const list = Command.make(
  "list",
  { ...storeFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.checkpoints.list")(function* (input) {
    const { TreeCheckpoints, StateManager } = yield* modules
    const checkpoints = yield* withStores(
      yield* target(input),
      { migrate: false },
      Effect.provide(TreeCheckpoints.list(input.id), StateManager.layer())
    )
    if (input.json) {
      const { toCheckpointView } = yield* Effect.promise(() => import("../../http/schema.ts"))
      return yield* json({ items: checkpoints.map(toCheckpointView) })
    }
    if (checkpoints.length === 0) return yield* line(`the run ${input.id} has no checkpoint`)
    yield* line(
      table(
        ["ID", "NAME", "CREATED"],
        checkpoints.map((checkpoint) => [checkpoint.id, checkpoint.name, time(checkpoint.createdAt)])
      )
    )
  })
).pipe(Command.withDescription("List the checkpoints of a run (by its root task's id), oldest first"))

const fork = Command.make(
  "fork",
  {
    ...storeFlags,
    json: jsonFlag,
    checkpoint: Argument.String("checkpoint").pipe(Argument.withDescription("The checkpoint's id")),
    replace: Flag.KeyValuePair("replace").pipe(
      Flag.withDescription("A branch's new input, as <key path>=<json> (repeatable): it runs again with it"),
      Flag.optional
    )
  },
  Effect.fn("waypoint.checkpoints.fork")(function* (input) {
    const store = yield* target(input)
    const replace: Record<string, Schema.Json> = {}
    if (input.replace._tag === "Some") {
      for (const [path, text] of Object.entries(input.replace.value)) {
        replace[path] = yield* decodeJson(text).pipe(
          Effect.mapError(() => new UsageError({ reason: `the input for ${path} is not JSON: ${text.slice(0, 80)}` }))
        )
      }
    }
    const { TreeCheckpoints, StateManager } = yield* modules
    const rootId = yield* withStores(
      store,
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
