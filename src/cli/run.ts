/**
 * The `waypoint` command itself, which `main.ts` imports (or runs again in a process of its own, see there).
 */
import { readFileSync } from "node:fs"
import { Effect, Layer } from "effect"
import { CliConfig, Command, GlobalFlag } from "effect/cli"
import * as Environment from "./internal/environment.ts"
import { presenterLayer, runMain } from "./internal/runMain.ts"
import { waypoint } from "./waypoint.ts"

// package.json is two folders up from both src/cli/main.ts and dist/cli/main.js
const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  readonly version: string
}

// Every built-in but the wizard, which prompts on the terminal: the environment reads no input.
const builtIns = GlobalFlag.BuiltIns.filter((flag) => flag !== GlobalFlag.Wizard)

runMain(
  Command.run(waypoint, { version }).pipe(
    Effect.provide(Layer.mergeAll(Environment.layer, presenterLayer, CliConfig.layer({ builtIns })))
  )
)
