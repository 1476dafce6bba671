/**
 * The plugin that gives every task execution its `Progress`: reports are published on the runtime's event stream
 * at once, written to the `ProgressStore` in batches (always flushed when the execution ends), and handed to an
 * optional handler, such as `toLogger`, without any change to task code.
 */
import { type Duration, Effect, type LogLevel } from "effect"
import { type Plugin, plugin } from "../../runtime/Plugin.ts"
import type { LogLevel as TaskLogLevel } from "../../runtime/TaskEvent.ts"
import type { TaskEvents } from "../../runtime/TaskEvents.ts"
import type { ProgressStore } from "../../stores/ProgressStore.ts"
import { Progress, type ProgressEvent, type ProgressHandler } from "./Progress.ts"

/** Settings of the progress plugin. */
export interface ProgressPluginOptions {
  /** How many log lines the store keeps per task, the newest. Default 1000; 0 stores none. */
  readonly keepLogs?: number | undefined
  /** Buffered log lines that trigger a write before the interval is up. Default 100. */
  readonly flushEvery?: number | undefined
  /** How often buffered log lines and the latest progress are written. Default 1 second. */
  readonly flushInterval?: Duration.Input | undefined
  /** Also receives every progress event (after it was published), in the reporting task's fiber. */
  readonly handler?: ProgressHandler | undefined
}

/**
 * Makes the progress plugin. A log line reaches the store within `flushInterval` or once `flushEvery` lines have
 * gathered, and the latest progress within `flushInterval`; whatever is left is written when the execution ends
 * (completed, failed, cancelled, suspended or interrupted). Subscribers see every report at once.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const runtime = yield* Runtime.make({ plugins: [ProgressPlugin.make({ handler: ProgressPlugin.toLogger })] })
 *   return yield* runtime.run(importer, { rows: 10_000 })
 * }).pipe(Effect.scoped, Effect.provide([MemoryTaskStore.layer, MemoryProgressStore.layer]))
 *
 * // in the body of `importer`:
 * const progress = yield* Progress
 * yield* progress.status("importing")
 * for (let row = 0; row < rows && !(yield* progress.shouldStop); row++) {
 *   yield* progress.update((100 * row) / rows)
 * }
 * yield* progress.log("import done", "info", { rows })
 * ```
 */
export const make = (options: ProgressPluginOptions = {}): Plugin<Progress, ProgressStore | TaskEvents> =>
  plugin<Progress, ProgressStore | TaskEvents>({
    name: "progress",
    layer: Progress.layer({
      keepLogs: options.keepLogs ?? 1000,
      flushEvery: options.flushEvery ?? 100,
      flushInterval: options.flushInterval ?? "1 second",
      handler: options.handler
    })
  })

const severities: Record<TaskLogLevel, LogLevel.Severity> = {
  debug: "Debug",
  info: "Info",
  warning: "Warn",
  error: "Error"
}

/**
 * A handler that writes each logged line to Effect's `Logger` at the matching level (`warning` is `Warn`), with
 * its data and annotated with `taskId` and `taskName`. Progress and status reports are not logged.
 */
export const toLogger: ProgressHandler = (event: ProgressEvent) =>
  event._tag !== "LogWritten"
    ? Effect.void
    : Effect.logWithLevel(severities[event.level])(
        ...(event.data === undefined ? [event.message] : [event.message, event.data])
      ).pipe(Effect.annotateLogs({ taskId: event.taskId, taskName: event.taskName }))
