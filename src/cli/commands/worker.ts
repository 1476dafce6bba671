/**
 * `waypoint worker <module>`: a worker process for the tasks a module exports. It claims their runnable tasks from
 * the store (submitted by any process, due timers, expired leases) and runs up to `--concurrency` at once, with the
 * plugins the module exports as `plugins` (by default the state and progress plugins), and prints a line when a task
 * it runs ends or suspends (`<id> <name> <status>`). SIGINT or SIGTERM stops it:
 * its running tasks go back to the store, `pending` at the same attempt, for another worker.
 */
import { resolve } from "node:path"
import process from "node:process"
import { pathToFileURL } from "node:url"
import { Effect, Predicate, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { AnyPlugin } from "../../runtime/Plugin.ts"
import type { TaskDefinition } from "../../runtime/Task.ts"
import type { StatusChanged } from "../../runtime/TaskEvent.ts"
import type { Stores } from "../../stores/postgres/PgStores.ts"
import { CommandFailed, UsageError } from "../errors.ts"
import { line } from "../output.ts"
import { storeFlags, target, withStores } from "../store.ts"

/** The tasks among a module's exports: values made by `task(...)`. */
const tasksOf = (exports: Record<string, unknown>): ReadonlyArray<TaskDefinition> =>
  Object.values(exports).filter(
    (value): value is TaskDefinition =>
      Predicate.hasProperty(value, Symbol.for("effect-waypoint/Task")) && Predicate.hasProperty(value, "name")
  )

export const worker = Command.make(
  "worker",
  {
    ...storeFlags,
    module: Argument.String("module").pipe(
      Argument.withDescription("A module exporting the tasks to run (and optionally `plugins`)")
    ),
    concurrency: Flag.Int("concurrency").pipe(
      Flag.withDescription("How many attempts run at once"),
      Flag.withDefault(10)
    )
  },
  Effect.fn("waypoint.worker")(function* (input) {
    const store = yield* target(input)
    if (input.concurrency < 1) {
      return yield* new UsageError({ reason: `--concurrency must be at least 1, got ${input.concurrency}` })
    }
    const url = pathToFileURL(resolve(input.module)).href
    const exports = yield* Effect.tryPromise({
      try: () => import(url) as Promise<Record<string, unknown>>,
      catch: (cause) =>
        new CommandFailed({
          reason: `cannot load ${input.module}: ${Predicate.hasProperty(cause, "message") ? String(cause.message).split("\n")[0] : String(cause)}`
        })
    })
    const tasks = tasksOf(exports)
    if (tasks.length === 0) return yield* new CommandFailed({ reason: `${input.module} exports no task` })
    const core = yield* Effect.promise(() => import("../../index.ts"))
    const plugins: ReadonlyArray<AnyPlugin> = Array.isArray(exports.plugins)
      ? (exports.plugins as ReadonlyArray<AnyPlugin>)
      : [core.StatePlugin.make(), core.ProgressPlugin.make()]
    yield* withStores(
      store,
      { migrate: true },
      Effect.scoped(
        Effect.gen(function* () {
          const runtime = yield* core.Runtime.make({ plugins, tasks, worker: { concurrency: input.concurrency } })
          // One line for each task this worker ends or suspends, for whoever watches it (from its first event: the
          // worker may have claimed a task before this stream is first pulled).
          yield* runtime.subscribe({ after: 0 }).pipe(
            Stream.filter(
              (event): event is StatusChanged =>
                event._tag === "StatusChanged" && event.status !== "running" && event.status !== "pending"
            ),
            Stream.runForEach((event) =>
              line(
                `${event.taskId} ${event.taskName} ${event.status}${event.error === undefined ? "" : `: ${event.error.tag}: ${event.error.message}`}`
              )
            ),
            Effect.forkScoped
          )
          yield* line(`worker ${runtime.id} (pid ${process.pid}) runs ${tasks.map((task) => task.name).join(", ")}`)
          return yield* Effect.never
          // the module's plugins are known only at run time; those this command provides need only the stores
        }) as Effect.Effect<never, never, Stores>
      )
    )
  })
).pipe(Command.withDescription("Run a worker for the tasks a module exports"))
