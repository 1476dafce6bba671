/**
 * The platform services `Command.run` asks for, made from `node:process` alone (Node and Deno both have it): the
 * arguments, stdout and stderr, and the terminal's size. The commands read no files through `FileSystem`, prompt
 * for nothing and spawn nothing, so those services are inert; this keeps `@effect/platform-node` (and its start-up)
 * out of the command line.
 */
import process from "node:process"
import { Effect, FileSystem, Layer, Path, Sink, Stdio, Stream, Terminal } from "effect"
import { ChildProcessSpawner } from "effect/process"

const write = (stream: NodeJS.WriteStream) =>
  // biome-ignore lint/suspicious/useIterableCallbackReturn: Sink.forEach is no array's: it runs the Effect returned
  Sink.forEach((chunk: string | Uint8Array) => Effect.sync(() => void stream.write(chunk)))

const stdio = Stdio.make({
  args: Effect.sync(() => process.argv.slice(2)),
  stdinIsTerminal: Effect.sync(() => process.stdin.isTTY === true),
  stdoutIsTerminal: Effect.sync(() => process.stdout.isTTY === true),
  stderrIsTerminal: Effect.sync(() => process.stderr.isTTY === true),
  stdout: () => write(process.stdout),
  stderr: () => write(process.stderr),
  stdin: Stream.empty
})

const notInteractive = Effect.die(new Error("waypoint reads no input from the terminal"))

const terminal = Terminal.make({
  columns: Effect.sync(() => process.stdout.columns || 80),
  rows: Effect.sync(() => process.stdout.rows ?? 24),
  size: notInteractive,
  readInput: notInteractive,
  readLine: notInteractive,
  display: (text) => Effect.sync(() => void process.stdout.write(text))
})

/** Everything `Command.run` needs, for a process on Node or Deno. */
export const layer: Layer.Layer<
  FileSystem.FileSystem | Path.Path | Terminal.Terminal | ChildProcessSpawner.ChildProcessSpawner | Stdio.Stdio
> = Layer.mergeAll(
  FileSystem.layerNoop({}),
  Path.layer,
  Layer.succeed(Stdio.Stdio, stdio),
  Layer.succeed(Terminal.Terminal, terminal),
  Layer.succeed(
    ChildProcessSpawner.ChildProcessSpawner,
    ChildProcessSpawner.make(() => Effect.die(new Error("waypoint spawns no process")))
  )
)
