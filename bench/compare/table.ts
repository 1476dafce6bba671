/**
 * The comparisons the table prints: one row per (Waypoint scenario, peer scenario) pair, with the ratio of their
 * medians from the same run (Waypoint / peer, both in ms per operation, so lower is better for Waypoint) and the
 * target from issue #21 as the largest ratio that passes.
 */
import type { ScenarioName, SystemName } from "./scenario.ts"

/** A measured series: which system ran which scenario. */
export interface Key {
  readonly system: SystemName
  readonly scenario: ScenarioName
}

export interface Comparison {
  readonly label: string
  /** What Waypoint ran; none for a floor shown on its own. */
  readonly waypoint?: ScenarioName
  readonly peer: Key
  /** The target as the largest Waypoint / peer ratio that passes, with how the issue says it; none: shown for reference. */
  readonly target?: { readonly maxRatio: number; readonly text: string }
}

const peer = (system: SystemName, scenario: ScenarioName): Key => ({ system, scenario })

export const comparisons: ReadonlyArray<Comparison> = [
  {
    label: "step in a task, server (ms/step)",
    waypoint: "step.server",
    peer: peer("raw", "raw.insert"),
    target: { maxRatio: 1.5, text: "<= 1.5x" }
  },
  {
    label: "step in a task, server (ms/step)",
    waypoint: "step.server",
    peer: peer("dbos", "step.server"),
    target: { maxRatio: 1 / 5, text: ">= 5x faster" }
  },
  {
    label: "step in a task, server (ms/step)",
    waypoint: "step.server",
    peer: peer("langgraph", "step.server"),
    target: { maxRatio: 1 / 10, text: ">= 10x faster" }
  },
  { label: "step in a task, server (ms/step)", waypoint: "step.server", peer: peer("langgraph", "step.server.sync") },
  {
    label: "step, in-memory store (ms/step)",
    waypoint: "step.memory",
    peer: peer("workflow", "step.memory"),
    target: { maxRatio: 1 / 10, text: ">= 10x cheaper" }
  },
  { label: "step, in-memory store (ms/step)", waypoint: "step.memory", peer: peer("langgraph", "step.memory") },
  {
    label: "empty task, runtime.run, server, StatePlugin (ms/task)",
    waypoint: "empty.server.plugins",
    peer: peer("raw", "raw.commit"),
    target: { maxRatio: 2.5, text: "<= 2.5x" }
  },
  {
    label: "empty task, runtime.run, server, StatePlugin (ms/task)",
    waypoint: "empty.server.plugins",
    peer: peer("dbos", "empty.server.bare"),
    target: { maxRatio: 1 / 3, text: ">= 3x faster" }
  },
  {
    label: "empty task, runtime.run, server, no plugins (ms/task)",
    waypoint: "empty.server.bare",
    peer: peer("raw", "raw.commit"),
    target: { maxRatio: 2.5, text: "<= 2.5x" }
  },
  {
    label: "empty task, runtime.run, server, no plugins (ms/task)",
    waypoint: "empty.server.bare",
    peer: peer("dbos", "empty.server.bare"),
    target: { maxRatio: 1 / 3, text: ">= 3x faster" }
  },
  {
    label: "enqueue -> completed, submit, one process (ms/task)",
    waypoint: "queue.2000",
    peer: peer("graphile", "queue.2000.batched"),
    target: { maxRatio: 1, text: ">= its throughput" }
  },
  {
    label: "enqueue -> completed, submit, one process (ms/task)",
    waypoint: "queue.2000",
    peer: peer("graphile", "queue.2000")
  },
  {
    label: "enqueue -> completed, submit, one process (ms/task)",
    waypoint: "queue.2000",
    peer: peer("dbos", "queue.2000")
  },
  {
    label: "enqueue -> completed, store.create + worker (ms/task)",
    waypoint: "queue.2000.worker",
    peer: peer("graphile", "queue.2000.batched")
  },
  {
    label: "new process after SIGKILL -> first resumed step, server (ms)",
    waypoint: "restart.server",
    peer: peer("dbos", "restart.server"),
    target: { maxRatio: 0.35, text: "<= 0.35x" }
  },
  {
    label: "new process after SIGKILL -> first resumed step, PGlite (ms)",
    waypoint: "restart.pglite",
    peer: peer("dbos", "restart.server"),
    target: { maxRatio: 0.35, text: "<= 0.35x" }
  },
  {
    label: "trivial in-memory tasks, submit -> completed (ms/task)",
    waypoint: "trivial.memory",
    peer: peer("workflow", "trivial.memory")
  },
  { label: "floor: single-row INSERT, 200 B jsonb (ms)", peer: peer("raw", "raw.insert") },
  { label: "floor: SELECT 1 (ms)", peer: peer("raw", "raw.select1") },
  { label: "floor: one commit, own connection (ms)", peer: peer("raw", "raw.commit") }
]

/** One printed row, also what `--json` writes. */
export interface Row {
  readonly scenario: string
  readonly waypointMs: number | undefined
  readonly peer: string
  readonly peerMs: number | undefined
  readonly ratio: number | undefined
  readonly target: string | undefined
  readonly result: "pass" | "miss" | undefined
}

export const rowOf = (comparison: Comparison, median: (key: Key) => number | undefined): Row => {
  const waypointMs =
    comparison.waypoint === undefined ? undefined : median({ system: "waypoint", scenario: comparison.waypoint })
  const peerMs = median(comparison.peer)
  const ratio = waypointMs === undefined || peerMs === undefined ? undefined : waypointMs / peerMs
  const target = comparison.target
  return {
    scenario: comparison.label,
    waypointMs,
    peer: `${comparison.peer.system} ${comparison.peer.scenario}`,
    peerMs,
    ratio,
    target: target?.text,
    result: target === undefined || ratio === undefined ? undefined : ratio <= target.maxRatio ? "pass" : "miss"
  }
}

const ms = (x: number | undefined) =>
  x === undefined ? "-" : x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3)

/** The rows as one Markdown table. */
export const render = (rows: ReadonlyArray<Row>): string => {
  const header = ["scenario", "Waypoint", "peer", "peer ms", "Waypoint / peer", "target", "result"]
  const cells = rows.map((row) => [
    row.scenario,
    ms(row.waypointMs),
    row.peer,
    ms(row.peerMs),
    row.ratio === undefined ? "-" : `${row.ratio.toFixed(2)}x`,
    row.target ?? "",
    row.result ?? ""
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (c: ReadonlyArray<string>) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(" | ")} |`
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...cells.map(line)].join("\n")
}
