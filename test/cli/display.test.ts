/**
 * The live display of `tasks follow` and `runs follow`, on a terminal and in a pipe: on a terminal the tasks' lines
 * are erased before a log line is written and drawn again below it, so no log line lands inside a bar.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Display from "../../src/cli/internal/display.ts"

const ERASE_LINE = "\u001b[1A\u001b[2K"

const recording = (isTTY: boolean, columns = 100) => {
  const writes: Array<string> = []
  return { writes, out: { isTTY, columns, write: (text: string) => writes.push(text) } }
}

const rows: ReadonlyArray<Display.Row> = [
  { key: "a", label: "supervisor", state: "running", percent: 50, message: "planning" },
  { key: "b", label: "  research", state: "waiting for go", percent: undefined }
]

describe("Display", () => {
  it.effect("on a terminal, erases the drawn lines before a log line and draws them again after it", () =>
    Effect.gen(function* () {
      const { writes, out } = recording(true)
      const display = Display.make(out)
      yield* display.render(rows)
      yield* display.log("12:00:00 info    hello")
      yield* display.render([{ ...rows[0]!, percent: 100, state: "completed" }])
      assert.deepStrictEqual(writes, [
        "supervisor running              [##########..........] planning\n  research waiting for go       [....................] \n",
        ERASE_LINE.repeat(2),
        "12:00:00 info    hello\n",
        "supervisor running              [##########..........] planning\n  research waiting for go       [....................] \n",
        ERASE_LINE.repeat(2),
        "supervisor completed            [####################] planning\n"
      ])
    })
  )

  it.effect("cuts a line to the terminal's width, so a redraw erases all of it", () =>
    Effect.gen(function* () {
      const { writes, out } = recording(true, 60)
      yield* Display.make(out).render([{ key: "a", label: "a", state: "running", message: "x".repeat(200) }])
      assert.strictEqual(writes[0], `${"a        running              [....................] ".padEnd(59, "x")}\n`)
    })
  )

  it.effect("in a pipe, prints a line when a task's state changes and log lines as they come, no escapes", () =>
    Effect.gen(function* () {
      const { writes, out } = recording(false)
      const display = Display.make(out)
      yield* display.render(rows)
      yield* display.render(rows)
      yield* display.log("a log line")
      yield* display.render([rows[0]!, { ...rows[1]!, state: "completed" }])
      assert.deepStrictEqual(writes, [
        "supervisor: running (planning)\n",
        "research: waiting for go\n",
        "a log line\n",
        "research: completed\n"
      ])
    })
  )
})
