/**
 * Waypoint side by side with its peers, in one run against one PostgreSQL server (issue #21). Every system's
 * scenarios are set up once (each system on databases of its own) and warmed up once, then run round after round: in
 * a round, the scenarios a row of the table compares (a group, `groupOf`) run back to back, the systems in a new order
 * each round, so that every ratio compares medians taken over the same minutes of the machine.
 * Prints one table (see table.ts and README.md); `--json <file>` also writes its rows and every sample.
 *
 *   node bench/compare/main.ts [--rounds <n>] [--quick] [--only <system,...>] [--json <file>]
 *
 * DATABASE_URL names the server (default postgres://postgres@127.0.0.1:5432/test); its user must create databases.
 */
import { writeFile } from "node:fs/promises"
import { parseArgs } from "node:util"
import {
  type BenchContext,
  groupOf,
  type Scenario,
  type Sizes,
  type System,
  type SystemName,
  sizeOf
} from "./scenario.ts"
import { dbos } from "./systems/dbos.ts"
import { graphile } from "./systems/graphile.ts"
import { langgraph } from "./systems/langgraph.ts"
import { raw } from "./systems/raw.ts"
import { waypoint } from "./systems/waypoint.ts"
import { workflow } from "./systems/workflow.ts"
import { comparisons, type Key, render, rowOf } from "./table.ts"

const { values } = parseArgs({
  options: {
    rounds: { type: "string" },
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    json: { type: "string" }
  }
})

const FULL: Sizes = { steps: 100, ops: 200, jobs: 2_000 }
const QUICK: Sizes = { steps: 20, ops: 30, jobs: 300 }
const sizes = values.quick ? QUICK : FULL
const rounds = Number(values.rounds ?? (values.quick ? 2 : 5))
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`--rounds must be a positive integer, not ${values.rounds}`)

const all: ReadonlyArray<System> = [waypoint, raw, dbos, langgraph, graphile, workflow]
const only = values.only?.split(",").map((name) => name.trim())
const unknown = only?.filter((name) => !all.some((system) => system.name === name)) ?? []
if (unknown.length > 0)
  throw new Error(`--only: unknown systems ${unknown.join(", ")}; known: ${all.map((s) => s.name)}`)
const systems = all.filter((system) => only === undefined || only.includes(system.name))

const context: BenchContext = {
  adminUrl: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
  sizes
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const keyOf = (system: SystemName, scenario: Scenario["name"]) => `${system}/${scenario}`
const log = (line: string) => process.stderr.write(`${line}\n`)

const planned = systems.map((system) => ({ system, scenarios: system.scenarios(context) }))
const samples = new Map<string, Array<number>>()
const started: Array<Scenario> = []

const main = async () => {
  log(`compare: ${systems.map((s) => s.name).join(", ")}; ${rounds} round(s); sizes ${JSON.stringify(sizes)}`)
  for (const { system, scenarios } of planned) {
    for (const scenario of scenarios) {
      await scenario.setup()
      started.push(scenario)
      // Warm-up (the JIT, first plans, pools), unmeasured; a restart is a new process each time and needs none.
      if (!scenario.name.startsWith("restart.")) {
        await scenario.run(Math.max(1, Math.ceil(sizeOf(scenario.name, sizes) / 4)))
      }
      log(`  set up ${keyOf(system.name, scenario.name)}`)
    }
  }
  // Every (system, scenario) by group, in the systems' order; a round runs each group's entries in a new rotation.
  const groups = new Map<string, Array<{ readonly system: SystemName; readonly scenario: Scenario }>>()
  for (const { system, scenarios } of planned) {
    for (const scenario of scenarios) {
      const group = groupOf(scenario.name)
      groups.set(group, [...(groups.get(group) ?? []), { system: system.name, scenario }])
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const entries of groups.values()) {
      // A new order each round: no system always runs first after a pause, or last on a tired machine.
      const order = entries.map((_, i) => entries[(i + round) % entries.length]!)
      for (const { system, scenario } of order) {
        const key = keyOf(system, scenario.name)
        const ms = await scenario.run(sizeOf(scenario.name, sizes))
        samples.set(key, [...(samples.get(key) ?? []), ms])
      }
    }
    log(`  round ${round + 1}/${rounds} done`)
  }
}

const teardown = async () => {
  for (const scenario of started.reverse()) {
    await scenario.teardown().catch((error: unknown) => log(`teardown of ${scenario.name} failed: ${String(error)}`))
  }
}

try {
  await main()
} finally {
  await teardown()
}

const medianOf = (key: Key) => {
  const xs = samples.get(keyOf(key.system, key.scenario))
  return xs === undefined ? undefined : median(xs)
}
const rows = comparisons
  .map((comparison) => rowOf(comparison, medianOf))
  .filter((row) => row.peerMs !== undefined || row.waypointMs !== undefined)
console.log(
  `\nmedians of ${rounds} round(s), ms per operation; sizes ${JSON.stringify(sizes)}; Node ${process.version}`
)
console.log(render(rows))
if (values.json !== undefined) {
  await writeFile(
    values.json,
    `${JSON.stringify({ rounds, sizes, node: process.version, rows, samples: Object.fromEntries(samples) }, null, 2)}\n`
  )
  log(`rows written to ${values.json}`)
}
// DBOS and the drivers may keep timers alive after their shutdown: the run is over.
process.exit(0)
