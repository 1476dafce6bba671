/**
 * What a user waits for before anything runs, from one run, in whole processes (issue 21's cold-start rows):
 * - the long-running example (5 steps) on a fresh PGlite folder, and on an existing one it was killed in after step 1
 *   (it resumes), against bare PGlite opening a fresh folder and a copy of that existing one (targets: <= 0.3x and
 *   <= 1.2x, wall time and peak RSS);
 * - each once more under `node --liftoff-only`, which keeps V8 from compiling PGlite's WebAssembly a second time
 *   with its optimising compiler (that compile runs on another core and Node waits for it at exit);
 * - the `waypoint` command (`tasks list --json`, from `dist`: run `npm run build` first) on PGlite and on a server,
 *   and importing `dist/postgres.js`, against `node -e 0`.
 * Rounds alternate the commands, so that a slow minute falls on all of them; medians are printed. Peak RSS comes from
 * `/usr/bin/time` where it exists (the process's own counters miss what V8 allocates while it shuts down).
 * Run: node bench/coldStart.ts [--rounds n]   (DATABASE_URL adds the server row)
 */
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({ options: { rounds: { type: "string" } } })
const rounds = Number(values.rounds ?? 3)
const node = process.execPath
const root = new URL("../", import.meta.url).pathname
const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined
const work = mkdtempSync(join(tmpdir(), "waypoint-cold-"))
let fresh = 0
const freshDir = () => join(work, `fresh-${fresh++}`)

const exampleScript = "examples/long-running/main.ts"
const barePglite = `
const { PGlite } = await import("@electric-sql/pglite")
const db = await PGlite.create({ dataDir: process.argv[1] })
await db.query("select 1")
await db.close()`

interface Command {
  readonly name: string
  readonly args: () => ReadonlyArray<string>
}

/** Runs `args` under node once: wall milliseconds and peak RSS in MB (NaN without /usr/bin/time). */
const measure = (args: ReadonlyArray<string>): { readonly wall: number; readonly rss: number } => {
  const start = performance.now()
  const result = timeBin
    ? spawnSync(timeBin, ["-f", "%M", node, ...args], { cwd: root, encoding: "utf8" })
    : spawnSync(node, [...args], { cwd: root, encoding: "utf8" })
  const wall = performance.now() - start
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  const kb = timeBin ? Number(result.stderr.trim().split("\n").at(-1)) : Number.NaN
  return { wall, rss: kb / 1024 }
}

const example =
  (flags: ReadonlyArray<string>, dir: () => string): Command["args"] =>
  () => [...flags, exampleScript, "--store", "pglite", "--data-dir", dir(), "--step-ms", "0"]

// An existing folder is one the example was killed in (after step 1 of 5): each run gets a copy, and resumes it.
const crashed = join(work, "crashed")
spawnSync(node, [exampleScript, "--store", "pglite", "--data-dir", crashed, "--step-ms", "0", "--crash-after", "1"], {
  cwd: root
})
if (!existsSync(join(crashed, "PG_VERSION"))) throw new Error("the example left no data directory")
let copies = 0
const existingCopy = () => {
  const copy = join(work, `existing-${copies++}`)
  cpSync(crashed, copy, { recursive: true })
  return copy
}

const commands: Array<Command> = []
for (const flags of [[], ["--liftoff-only"]]) {
  const tag = flags.length === 0 ? "" : " (--liftoff-only)"
  commands.push(
    {
      name: `bare PGlite, fresh folder${tag}`,
      args: () => [...flags, "--input-type=module", "-e", barePglite, freshDir()]
    },
    { name: `example, fresh folder${tag}`, args: example(flags, freshDir) },
    {
      name: `bare PGlite, existing folder${tag}`,
      args: () => [...flags, "--input-type=module", "-e", barePglite, existingCopy()]
    },
    { name: `example, existing folder${tag}`, args: example(flags, existingCopy) }
  )
}
const cli = "dist/cli/main.js"
if (existsSync(join(root, cli))) {
  commands.push(
    { name: "node -e 0", args: () => ["-e", "0"] },
    {
      name: "import dist/postgres.js",
      args: () => ["--input-type=module", "-e", 'await import("./dist/postgres.js")']
    },
    { name: "waypoint tasks list --json, PGlite", args: () => [cli, "tasks", "list", "--json", "--data-dir", crashed] }
  )
  if (process.env.DATABASE_URL) {
    const url = process.env.DATABASE_URL
    commands.push({
      name: "waypoint tasks list --json, server",
      args: () => [cli, "tasks", "list", "--json", "--database-url", url]
    })
  }
}

const samples = new Map<string, Array<{ wall: number; rss: number }>>()
for (let round = 0; round < rounds; round++) {
  const order = commands.map((_, i) => commands[(i + round) % commands.length] as Command)
  for (const command of order) {
    const list = samples.get(command.name) ?? []
    list.push(measure(command.args()))
    samples.set(command.name, list)
  }
}
rmSync(work, { recursive: true, force: true })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const row = (name: string) => {
  const list = samples.get(name) ?? []
  return { wall: median(list.map((s) => s.wall)), rss: median(list.map((s) => s.rss)) }
}
console.log(`cold start, ${rounds} rounds, medians (Node ${process.versions.node})\n`)
console.log("| command | wall (ms) | peak RSS (MB) | against | wall ratio | RSS ratio | target | result |")
console.log("|---|---|---|---|---|---|---|---|")
const liftoff = " (--liftoff-only)"
// An example row is set against bare PGlite as a user runs it (Node's defaults), then against bare PGlite under the
// same flags as the example; the other rows against `node -e 0`.
const against = (name: string): ReadonlyArray<readonly [string, number | undefined]> => {
  const target = name.includes("fresh") ? 0.3 : 1.2
  if (name.startsWith("example")) {
    const bare = name.replace("example", "bare PGlite")
    const defaults = bare.replace(liftoff, "")
    return bare === defaults
      ? [[defaults, target]]
      : [
          [defaults, target],
          [bare, undefined]
        ]
  }
  return name.startsWith("bare PGlite") || name === "node -e 0" ? [] : [["node -e 0", undefined]]
}
for (const command of commands) {
  const own = row(command.name)
  const bases = against(command.name)
  const cells = (base: string, target: number | undefined) => {
    const floor = row(base)
    const wall = own.wall / floor.wall
    const rss = own.rss / floor.rss
    const result = target === undefined || Number.isNaN(rss) ? "" : wall <= target && rss <= target ? "pass" : "miss"
    return `${base} | ${wall.toFixed(2)}x | ${Number.isNaN(rss) ? "" : `${rss.toFixed(2)}x`} | ${target === undefined ? "" : `<= ${target}x`} | ${result}`
  }
  const head = `| ${command.name} | ${own.wall.toFixed(0)} | ${Number.isNaN(own.rss) ? "" : own.rss.toFixed(0)}`
  if (bases.length === 0) console.log(`${head} | | | | | |`)
  for (const [i, [base, target]] of bases.entries()) {
    console.log(`${i === 0 ? head : "| | |"} | ${cells(base, target)} |`)
  }
}
