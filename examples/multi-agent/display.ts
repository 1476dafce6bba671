/**
 * How the example shows its run. On a terminal: the live tree, one redrawn line per agent with a progress bar, kept
 * below the log lines (the tree is cleared before a line is printed, then drawn again). In a pipe: plain lines, and a
 * line each time an agent's status changes.
 */
import { Effect } from "effect"
import type { RunTree } from "../../src/index.ts"

interface Output {
  readonly isTTY?: boolean | undefined
  /** The terminal's width, when it is one. */
  readonly columns?: number | undefined
  readonly write: (text: string) => boolean
}

const bar = (percent: number | undefined) => {
  const width = 20
  const filled = Math.round(((percent ?? 0) / 100) * width)
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`
}

/** What an agent is doing, in a few words. */
const doing = (node: RunTree.RunTreeNode) => {
  if (node.status === "completed") return "done"
  if (node.waitingFor !== undefined) return `waiting for ${node.waitingFor.remaining} of ${node.waitingFor.total}`
  if (node.suspendReason?._tag === "WaitingForSignal") return `waiting for ${node.suspendReason.signal}`
  return node.status
}

/** The last segment of a key path, indented by depth. */
const label = (node: RunTree.RunTreeNode) => `${"  ".repeat(node.depth)}${node.path.split("/").at(-1) ?? node.path}`

export const makeDisplay = (out: Output) => {
  const isTerminal = out.isTTY === true
  let drawn = 0
  let lastTree: RunTree.RunTree | undefined
  const statuses = new Map<string, string>()

  const clear = () => {
    // up one line and erase it, for each line of the tree drawn last
    if (drawn > 0) out.write("\u001b[1A\u001b[2K".repeat(drawn))
    drawn = 0
  }

  const draw = (tree: RunTree.RunTree) => {
    // A line wider than the terminal would wrap, and the next redraw would clear only its last row: cut it.
    const width = Math.max(20, (out.columns || 80) - 1)
    const lines = tree.nodes.map((node) =>
      `${label(node).padEnd(16)} ${doing(node).padEnd(22)} ${bar(node.status === "completed" ? 100 : node.progress?.percent)} ${node.progress?.message ?? ""}`.slice(
        0,
        width
      )
    )
    out.write(`${lines.join("\n")}\n`)
    drawn = lines.length
  }

  return {
    /** Prints a line above the tree. */
    log: (line: string) =>
      Effect.sync(() => {
        if (isTerminal) clear()
        out.write(`${line}\n`)
        if (isTerminal && lastTree !== undefined) draw(lastTree)
      }),
    /** Shows the tree as it is now. */
    render: (tree: RunTree.RunTree) =>
      Effect.sync(() => {
        lastTree = tree
        if (isTerminal) {
          clear()
          draw(tree)
          return
        }
        for (const node of tree.nodes) {
          const now = doing(node)
          if (statuses.get(node.path) === now) continue
          statuses.set(node.path, now)
          out.write(`${node.path}: ${now}\n`)
        }
      }),
    /** Leaves the tree drawn last where it is: what follows is printed below it. */
    done: () =>
      Effect.sync(() => {
        lastTree = undefined
        drawn = 0
      })
  }
}
