/**
 * The live view of `tasks follow` and `runs follow`. On a terminal: one redrawn line per task (a progress bar and
 * what it does), kept below the log lines; the lines are cleared before a log line is printed and drawn again after
 * it, so a log line never overwrites part of a bar. Elsewhere (a pipe, a file): plain lines, a log line as it comes
 * and a line each time a task's state changes.
 */
import { Effect } from "effect"

/** Where the display writes: stdout, or a test's buffer. */
export interface Output {
  readonly isTTY?: boolean | undefined
  /** The terminal's width, when it is one. */
  readonly columns?: number | undefined
  readonly write: (text: string) => unknown
}

/** One task's line. */
export interface Row {
  /** Stable across redraws (the task's id). */
  readonly key: string
  /** What names it: its id, or its key path indented by depth. */
  readonly label: string
  /** What it does, in a few words (`running`, `waiting for approve`). */
  readonly state: string
  readonly percent?: number | undefined
  readonly message?: string | undefined
}

const bar = (percent: number | undefined) => {
  const width = 20
  const filled = Math.max(0, Math.min(width, Math.round(((percent ?? 0) / 100) * width)))
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

/** A display on `out`. */
export const make = (out: Output) => {
  const isTerminal = out.isTTY === true
  let drawn = 0
  let rows: ReadonlyArray<Row> = []
  const states = new Map<string, string>()

  const clear = () => {
    // up one line and erase it, for each line drawn last
    if (drawn > 0) out.write("\u001b[1A\u001b[2K".repeat(drawn))
    drawn = 0
  }

  const draw = () => {
    // a line wider than the terminal would wrap, and the next clear would erase only its last row: cut it
    const width = Math.max(20, (out.columns || 80) - 1)
    const labelWidth = Math.min(40, Math.max(8, ...rows.map((row) => row.label.length)))
    const lines = rows.map((row) =>
      `${row.label.padEnd(labelWidth)} ${row.state.padEnd(20)} ${bar(row.percent)} ${row.message ?? ""}`.slice(0, width)
    )
    if (lines.length > 0) out.write(`${lines.join("\n")}\n`)
    drawn = lines.length
  }

  return {
    /** Prints a line above the tasks' lines. */
    log: (line: string): Effect.Effect<void> =>
      Effect.sync(() => {
        if (isTerminal) clear()
        out.write(`${line}\n`)
        if (isTerminal) draw()
      }),
    /** Shows the tasks as they are now. */
    render: (next: ReadonlyArray<Row>): Effect.Effect<void> =>
      Effect.sync(() => {
        rows = next
        if (isTerminal) {
          clear()
          draw()
          return
        }
        for (const row of next) {
          const state = `${row.state}${row.message === undefined || row.message === "" ? "" : ` (${row.message})`}`
          if (states.get(row.key) === state) continue
          states.set(row.key, state)
          out.write(`${row.label.trim()}: ${state}\n`)
        }
      }),
    /** Leaves the lines drawn last where they are: what follows is printed below them. */
    done: (): Effect.Effect<void> =>
      Effect.sync(() => {
        drawn = 0
      })
  }
}

/** A display's operations. */
export type Display = ReturnType<typeof make>
