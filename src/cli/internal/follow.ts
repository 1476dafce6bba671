/**
 * Following tasks from another process: the store is read again every interval (the tasks' records, their latest
 * progress and their new log lines, by sequence number), so it works for a task running anywhere, and a follower
 * that starts late prints the lines the task kept. It ends when the followed task (a run's root) ends. A remote app
 * (`--url`) is read the same way, through `GET /tasks/{id}` or `GET /tasks/{id}/tree`; it serves no log lines.
 */
import process from "node:process"
import { Effect, Option } from "effect"
import type { LogEntry, LogQuery } from "../../stores/ProgressStore.ts"
import type { StoredError, TaskStatus } from "../../stores/TaskRecord.ts"
import { CommandFailed } from "../errors.ts"
import * as Display from "./display.ts"

/** What one read of the store shows. */
export interface View {
  readonly rows: ReadonlyArray<Display.Row>
  /** The tasks whose log lines are printed, with what names them in a line. */
  readonly logs: ReadonlyArray<{ readonly taskId: string; readonly label: string }>
  /** The followed task's status, and its error when it failed. */
  readonly status: TaskStatus
  readonly error?: StoredError | undefined
}

const clock = (millis: number) => new Date(millis).toISOString().slice(11, 19)

/** Reads a task's log lines: `ProgressStore.listLogs`, or the app's `GET /tasks/{id}/logs` (`remoteLogs`). */
export type ReadLogs<E, R> = (taskId: string, query: LogQuery) => Effect.Effect<ReadonlyArray<LogEntry>, E, R>

/**
 * Prints what `read` shows every `intervalMillis` until the followed task ends: succeeds when it completed, fails
 * with `CommandFailed` (exit code 1) when it failed or was cancelled. With `json`, one JSON object a line.
 */
export const follow = <E, R, LE, LR>(options: {
  readonly taskId: string
  readonly read: Effect.Effect<View, E, R>
  readonly logs: ReadLogs<LE, LR>
  readonly intervalMillis: number
  readonly json: boolean
}): Effect.Effect<void, E | LE | CommandFailed, R | LR> =>
  Effect.gen(function* () {
    const display = Display.make(process.stdout)
    const emit = (value: unknown) => Effect.sync(() => void process.stdout.write(`${JSON.stringify(value)}\n`))
    const lastSeq = new Map<string, number>()
    const shown = new Map<string, string>()

    const printLogs = (view: View) =>
      Effect.forEach(
        view.logs,
        ({ taskId, label }) =>
          Effect.gen(function* () {
            // a page at a time, until the task's lines are read
            for (;;) {
              const lines = yield* options.logs(taskId, { limit: 500, afterSeq: lastSeq.get(taskId) })
              for (const entry of lines) {
                lastSeq.set(taskId, entry.seq)
                yield* options.json
                  ? emit({ type: "log", taskId, ...entry })
                  : display.log(
                      `${clock(entry.at)} ${entry.level.padEnd(7)} ${view.logs.length > 1 ? `${label}: ` : ""}${entry.message}`
                    )
              }
              if (lines.length < 500) return
            }
          }),
        { discard: true }
      )

    const printRows = (view: View) =>
      options.json
        ? Effect.forEach(
            view.rows,
            (row) => {
              const text = JSON.stringify({
                type: "task",
                taskId: row.key,
                state: row.state,
                percent: row.percent,
                message: row.message
              })
              if (shown.get(row.key) === text) return Effect.void
              shown.set(row.key, text)
              return Effect.sync(() => void process.stdout.write(`${text}\n`))
            },
            { discard: true }
          )
        : display.render(view.rows)

    for (;;) {
      const view = yield* options.read
      yield* printLogs(view)
      yield* printRows(view)
      if (view.status === "completed" || view.status === "failed" || view.status === "cancelled") {
        yield* display.done()
        const detail = view.error === undefined ? "" : `: ${view.error.tag}: ${view.error.message}`
        if (options.json) yield* emit({ type: "end", taskId: options.taskId, status: view.status, error: view.error })
        else if (view.status === "completed")
          yield* Effect.sync(() => void process.stdout.write(`${options.taskId} completed\n`))
        if (view.status === "completed") return
        return yield* new CommandFailed({ reason: `${options.taskId} ${view.status}${detail}` })
      }
      yield* Effect.sleep(options.intervalMillis)
    }
  })

/** What a task does, in a few words, from its status and why it is suspended. */
export const doing = (task: {
  readonly status: TaskStatus
  readonly suspendReason?:
    | { readonly _tag: string; readonly signal?: string; readonly remaining?: number; readonly total?: number }
    | undefined
}): string => {
  const reason = task.suspendReason
  if (task.status !== "suspended" || reason === undefined) return task.status
  switch (reason._tag) {
    case "WaitingForSignal":
      return `waiting for ${reason.signal ?? "a signal"}`
    case "WaitingForChildren":
      return `waiting for ${reason.remaining ?? "?"}/${reason.total ?? "?"}`
    case "QueuedBehindSiblings":
      return "queued"
    default:
      return "paused"
  }
}

/** A row's percent: the latest progress, and 100 for a completed task. */
export const percentOf = (status: TaskStatus, progress: Option.Option<{ readonly percent?: number | undefined }>) =>
  status === "completed" ? 100 : Option.getOrUndefined(progress)?.percent
