/**
 * Runs the `waypoint` command as a process: SIGINT and SIGTERM interrupt it (a follower stops, a server closes, a
 * worker hands its tasks back), and its end becomes the exit code: 0 (also when stopped by SIGTERM), 2 for bad input
 * (parse errors, which the presenter below reports in one line on stderr), 1 for any other failure, 130 on SIGINT.
 */
import process from "node:process"
import { Cause, Console, Effect, Exit, type Layer, Option } from "effect"
import { CliError, CliOutput } from "effect/cli"
import { describe, exitCodeOf } from "../errors.ts"

/**
 * Help and versions go to stdout; a bad invocation prints its first problem and where to find help on stderr, in
 * one line, not the whole help: a script reads the reason, a person the hint.
 */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function* () {
      const formatter = CliOutput.defaultFormatter({ colors: process.stdout.isTTY === true })
      switch (event._tag) {
        case "Help":
          return yield* Console.log(formatter.formatHelpDoc(event.helpDoc))
        case "Version":
          return yield* Console.log(formatter.formatVersion(event.name, event.version))
        case "InvalidInvocation": {
          const first = event.errors[0]
          const reason = first === undefined ? "bad arguments" : first.message.split("\n")[0]
          return yield* Console.error(`waypoint: ${reason} (see: ${event.commandPath.join(" ")} --help)`)
        }
      }
    })
}

/** The presenter above, for `Command.run`. */
export const presenterLayer: Layer.Layer<never> = CliOutput.layerPresenter(presenter)

const report = (line: string) => Effect.runSync(Console.error(`waypoint: ${line}`))

/**
 * The exit code of a run's end, after printing why it failed (unless the presenter has already said). SIGTERM is how
 * a server or a worker is asked to stop: that is a success; SIGINT (Ctrl-C) gives 130, as shells do.
 */
const exitCode = (exit: Exit.Exit<void, unknown>, stoppedBy: NodeJS.Signals | undefined): number => {
  if (Exit.isSuccess(exit)) return 0
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isSome(error)) {
    const failure = error.value
    if (CliError.isCliError(failure)) {
      // ShowHelp was presented already: a bad invocation (2), or the help of a command that needs a subcommand (0)
      if (failure._tag === "ShowHelp") return failure.errors.length > 0 ? 2 : 0
      report(failure.message)
      return 2
    }
    report(describe(failure))
    return exitCodeOf(failure)
  }
  if (Cause.hasInterruptsOnly(exit.cause)) return stoppedBy === "SIGTERM" ? 0 : 130
  report(`unexpected error: ${describe(Cause.squash(exit.cause))}`)
  return 1
}

/** Runs `program` as the process's main fiber, then exits with its code. */
export const runMain = (program: Effect.Effect<void, unknown>): void => {
  const fiber = Effect.runFork(program)
  let stoppedBy: NodeJS.Signals | undefined
  const interrupt = (signal: NodeJS.Signals) => {
    stoppedBy = signal
    fiber.interruptUnsafe()
  }
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  fiber.addObserver((exit) => {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
    // Exits once stdout and stderr have taken all that was printed: a pipe takes 64 KiB at a time, and what it has
    // not taken yet is lost by exiting (a page of `--json` read by a script). Exiting, not waiting for the process to
    // end by itself, as a store's driver left with a timer would keep it alive.
    const code = exitCode(exit, stoppedBy)
    let unflushed = 2
    const flushed = () => {
      if (--unflushed === 0) process.exit(code)
    }
    process.stdout.write("", flushed)
    process.stderr.write("", flushed)
  })
}
