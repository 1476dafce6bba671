/**
 * `waypoint tasks cancel|pause|resume|signal`: steering a task, wherever it runs, through the store (the runtime's
 * own calls, as the HTTP adapter's routes make them). A task running in another process is asked, and that process
 * carries it out when it hears of it.
 */
import { Effect, Option, Schema } from "effect"
import { Argument, Command } from "effect/cli"
import type { TaskView } from "../../http/schema.ts"
import type { Stores } from "../../stores/postgres/PgStores.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import { UsageError } from "../errors.ts"
import { json, line } from "../output.ts"
import { type RemoteChoice, remoteFlags, remoteOf, request } from "../remote.ts"
import { type CliRuntime, jsonFlag, type StoreChoice, storeFlags, target, withRuntime, withStores } from "../store.ts"
import { taskIdArgument, views } from "./tasks.ts"

/** A record as the API shows it. */
const viewOf = (record: TaskRecord) => Effect.map(views, ({ toTaskView }) => toTaskView(record))

/** Runs `action` on the task (locally, or with a POST to `/tasks/:id/<action>` remotely) and returns it after. */
const steer = <E>(
  input: StoreChoice & RemoteChoice & { readonly id: string },
  action: "cancel" | "pause" | "resume",
  local: (runtime: CliRuntime) => Effect.Effect<void, E, Stores>
) =>
  Effect.gen(function* () {
    const remote = remoteOf(input)
    if (Option.isSome(remote)) {
      const path = `tasks/${encodeURIComponent(input.id)}`
      return (yield* request(remote.value, "POST", `${path}/${action}`).pipe(
        // the app's runtime knows no task of that name: it has made it runnable, for a worker that does
        Effect.catchIf(
          (error) => action === "resume" && error._tag === "RemoteProblem" && error.tag === "UnknownTask",
          () => request(remote.value, "GET", path)
        )
      )) as TaskView
    }
    return yield* viewOf(
      yield* withStores(
        yield* target(input),
        { migrate: false },
        withRuntime((runtime) => Effect.andThen(local(runtime), runtime.get(input.id)))
      )
    )
  })

const printTask = (isJson: boolean, task: TaskView, sentence: string) => (isJson ? json(task) : line(sentence))

const cancel = Command.make(
  "cancel",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.cancel")(function* (input) {
    const record = yield* steer(input, "cancel", (runtime) => runtime.cancel(input.id))
    yield* printTask(
      input.json,
      record,
      record.status === "running"
        ? `asked ${record.id} to cancel: the process running it cancels it (and its unfinished children)`
        : `${record.id} is ${record.status}`
    )
  })
).pipe(Command.withDescription("Cancel a task and its unfinished children (a finished task stays as it is)"))

const pause = Command.make(
  "pause",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.pause")(function* (input) {
    const record = yield* steer(input, "pause", (runtime) => runtime.pause(input.id))
    yield* printTask(
      input.json,
      record,
      record.status === "running"
        ? `asked ${record.id} to pause: the process running it pauses it`
        : `${record.id} is ${record.status}`
    )
  })
).pipe(Command.withDescription("Pause a task until it is resumed (its body runs again from its start)"))

const resume = Command.make(
  "resume",
  { ...storeFlags, ...remoteFlags, json: jsonFlag, id: taskIdArgument },
  Effect.fn("waypoint.tasks.resume")(function* (input) {
    const record = yield* steer(input, "resume", (runtime) =>
      // this runtime runs no task: the one it woke is claimed by a worker that knows its name
      Effect.catchTag(runtime.resume(input.id), "UnknownTask", () => Effect.void)
    )
    yield* printTask(
      input.json,
      record,
      `resumed ${record.id} (${record.status}): a worker that knows "${record.name}" runs it now`
    )
  })
).pipe(Command.withDescription("Make a paused or waiting task runnable now"))

const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

const signal = Command.make(
  "signal",
  {
    ...storeFlags,
    ...remoteFlags,
    id: taskIdArgument,
    name: Argument.String("name").pipe(Argument.withDescription("The signal's name")),
    payload: Argument.String("payload").pipe(
      Argument.withDescription("The payload, as JSON (a string is '\"text\"')"),
      Argument.withDefault("null")
    )
  },
  Effect.fn("waypoint.tasks.signal")(function* (input) {
    const payload = yield* decodeJson(input.payload).pipe(
      Effect.mapError(() => new UsageError({ reason: `the payload is not JSON: ${input.payload.slice(0, 80)}` }))
    )
    const remote = remoteOf(input)
    if (Option.isSome(remote)) {
      const path = `tasks/${encodeURIComponent(input.id)}/signals/${encodeURIComponent(input.name)}`
      yield* request(remote.value, "POST", path, payload)
    } else {
      yield* withStores(
        yield* target(input),
        { migrate: false },
        withRuntime((runtime) => runtime.signal(input.id, input.name, payload))
      )
    }
    yield* line(`sent "${input.name}" to ${input.id}`)
  })
).pipe(
  Command.withDescription("Send a signal to a task: kept in its mailbox until a waitForSignal of that name takes it"),
  Command.withExamples([
    { command: `waypoint tasks signal <id> approval '{"approved":true}'`, description: "Approve a waiting task" }
  ])
)

/** The steering subcommands of `waypoint tasks`. */
export const controlCommands = [cancel, pause, resume, signal] as const
