#!/usr/bin/env node
/**
 * The `waypoint` executable: `node dist/cli/main.js ...`, `deno run -A src/cli/main.ts ...`, or `npx waypoint ...`
 * where the package is installed.
 *
 * A short command on a PGlite folder runs in a second Node process started with `--liftoff-only`. V8 compiles
 * PGlite's WebAssembly twice: at once with its baseline compiler, then its hot functions again with its optimising
 * one, on another core, and Node waits for that second compile before it exits. For a command that opens the folder,
 * prints and ends, that compile is wasted: here `tasks list` took 3.3 s and 737 MB with it, about 1.2 s and 250 MB
 * without. A V8 flag cannot be set once Node runs, hence the second process. `worker` and `serve` run long enough to
 * gain from the optimised code, and a server or `--url` needs no WebAssembly: those run here. This file imports only
 * Node's own modules, so that deciding costs nothing.
 */
import { spawn } from "node:child_process"
import * as nodeModule from "node:module"
import process from "node:process"
import { fileURLToPath } from "node:url"

// Node keeps the compiled code of the modules it loads in a folder of the system's temp dir, and the next start reads
// it instead of compiling them again (a quarter off the loading of effect and Waypoint here). Deno has no such call.
if (typeof nodeModule.enableCompileCache === "function") nodeModule.enableCompileCache()

const FLAG = "--liftoff-only"
const args = process.argv.slice(2)

const flags = new Set(args.map((arg) => arg.split("=")[0]))

/** Whether this command opens a PGlite folder (`--data-dir`) and ends, under Node, not already under the flag. */
const opensPgliteBriefly = (): boolean =>
  !("Deno" in globalThis) &&
  !process.execArgv.includes(FLAG) &&
  process.env.WAYPOINT_OPTIMIZE_WASM === undefined &&
  flags.has("--data-dir") &&
  !["--database-url", "--url", "--help", "-h", "--version"].some((flag) => flags.has(flag)) &&
  !args.includes("worker") &&
  !args.includes("serve")

if (opensPgliteBriefly()) {
  const child = spawn(process.execPath, [...process.execArgv, FLAG, fileURLToPath(import.meta.url), ...args], {
    stdio: "inherit"
  })
  // Ctrl-C reaches both processes from the terminal; a signal sent to this one alone is passed on
  process.on("SIGINT", () => {})
  for (const signal of ["SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => {
    if (signal !== null) {
      process.removeAllListeners(signal)
      process.kill(process.pid, signal)
    } else process.exit(code ?? 1)
  })
} else {
  await import("./run.ts")
}
