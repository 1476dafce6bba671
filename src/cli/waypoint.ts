/**
 * The `waypoint` command and its subcommands. Only `effect` and `effect/cli` load with it; each handler imports the
 * store, runtime or server modules it needs when it runs.
 */
import { Command } from "effect/cli"
import { checkpoints } from "./commands/checkpoints.ts"
import { controlCommands } from "./commands/control.ts"
import { migrate } from "./commands/migrate.ts"
import { followTaskCommand, runs } from "./commands/runs.ts"
import { serve } from "./commands/serve.ts"
import { snapshots } from "./commands/snapshots.ts"
import { readCommands } from "./commands/tasks.ts"
import { worker } from "./commands/worker.ts"

const tasks = Command.make("tasks").pipe(
  Command.withDescription("List, inspect and steer tasks"),
  Command.withSubcommands([...readCommands, followTaskCommand, ...controlCommands])
)

/** `waypoint`: the root command. */
export const waypoint = Command.make("waypoint").pipe(
  Command.withDescription("Inspect and steer Waypoint tasks in a PGlite folder or a PostgreSQL database"),
  Command.withSubcommands([tasks, runs, snapshots, checkpoints, migrate, serve, worker])
)
