/**
 * Progress reporting from a running task: log lines, a percentage, a status message, and whether it should stop.
 * Every report is published at once on the runtime's event stream, numbered in the order it was made; the
 * `ProgressStore` receives the reports in batches, and everything reported is written when the execution ends.
 */
import { Context, Duration, Effect, Exit, Layer, Schema, Semaphore } from "effect"
import type { LogLevel, LogWritten, ProgressReported, StatusMessage } from "../../runtime/TaskEvent.ts"
import { TaskEvents } from "../../runtime/TaskEvents.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import { type LatestUpdate, type NewLogEntry, ProgressStore } from "../../stores/ProgressStore.ts"
import { storableText, unstorable } from "../../stores/storable.ts"
import { InvalidProgress, LogDataNotSerializable } from "./errors.ts"

/** An event a `Progress` call published, as every subscriber sees it. */
export type ProgressEvent = ProgressReported | StatusMessage | LogWritten

/** Receives every progress event of every task, in the reporting fiber, after it was published. */
export type ProgressHandler = (event: ProgressEvent) => Effect.Effect<void>

/** How one execution's `Progress` stores what it reports; `ProgressPlugin.make` fills in its defaults. */
export interface ProgressSettings {
  /** How many log lines the store keeps per task, the newest; 0 stores none (they are still published). */
  readonly keepLogs: number
  /** Buffered log lines that trigger a write before the interval is up. */
  readonly flushEvery: number
  /** How often buffered log lines and the latest progress are written. */
  readonly flushInterval: Duration.Input
  readonly handler?: ProgressHandler | undefined
}

const isJson = Schema.is(Schema.Json)

export class Progress extends Context.Service<
  Progress,
  {
    /** Logs a line at `level` ("info" by default); `data`, if given, must be JSON (an `undefined` property is not). */
    readonly log: (message: string, level?: LogLevel, data?: unknown) => Effect.Effect<void, LogDataNotSerializable>
    /** Reports how far the task is: a finite `percent` from 0 to 100, never clamped. */
    readonly update: (percent: number, message?: string) => Effect.Effect<void, InvalidProgress>
    /** Says what the task is doing now. */
    readonly status: (message: string) => Effect.Effect<void>
    /** True once a cancel of this task was asked: stop cleanly before the grace period ends. */
    readonly shouldStop: Effect.Effect<boolean>
  }
>()("waypoint/plugins/progress/Progress") {
  /**
   * Builds one execution's `Progress`. Its write policy: log lines are buffered and appended when `flushEvery`
   * have gathered (by the call that fills the batch) or at each `flushInterval`, whichever comes first; the latest
   * progress and status are merged in memory and written at most once per interval, the latest value winning.
   * When the execution ends (completed, failed, cancelled, suspended or interrupted) everything still buffered is
   * written. A write the store refuses is logged as a warning and tried again at the next flush (after the final
   * flush, it is only logged): reporting never fails a task.
   */
  static layer(settings: ProgressSettings): Layer.Layer<Progress, never, TaskInfo | TaskEvents | ProgressStore> {
    const keepLogs = Math.max(0, Math.floor(settings.keepLogs))
    const flushEvery = Math.max(1, Math.floor(settings.flushEvery))
    const intervalMillis = Math.max(1, Duration.toMillis(settings.flushInterval))
    const handler = settings.handler
    return Layer.effect(
      Progress,
      Effect.gen(function* () {
        const task = yield* TaskInfo
        const events = yield* TaskEvents
        const store = yield* ProgressStore
        const lock = yield* Semaphore.make(1)
        let buffer: Array<NewLogEntry> = []
        // After a failed append the lines stay buffered; the next size-triggered write waits for a new batch.
        let flushAt = flushEvery
        let pending: LatestUpdate | undefined

        const writeLogs = Effect.gen(function* () {
          if (buffer.length === 0) return
          const batch = buffer
          buffer = []
          const exit = yield* Effect.exit(store.appendLogs(task.id, batch, { keepLast: keepLogs }))
          if (Exit.isSuccess(exit)) {
            flushAt = flushEvery
            return
          }
          // Lines logged during the write are newer than the batch: they go after it.
          buffer = [...batch, ...buffer].slice(-keepLogs)
          flushAt = buffer.length + flushEvery
          yield* Effect.logWarning(`progress of task ${task.id}: ${batch.length} log lines not written`, exit.cause)
        })

        // What was reported during a failed write is newer than what it tried to write, and wins field by field.
        const restore = (update: LatestUpdate) => {
          pending = pending === undefined ? update : { ...update, ...pending }
        }

        const writeLatest = Effect.gen(function* () {
          if (pending === undefined) return
          const update = pending
          pending = undefined
          const exit = yield* Effect.exit(store.setLatest(task.id, update))
          if (Exit.isSuccess(exit)) return
          restore(update)
          yield* Effect.logWarning(`progress of task ${task.id}: latest progress not written`, exit.cause)
        })

        // One write at a time, in order; a write once started completes even if the task is interrupted.
        const exclusive = <A>(effect: Effect.Effect<A>) =>
          effect.pipe(Semaphore.withPermit(lock), Effect.uninterruptible)
        const flushIfFull = exclusive(Effect.suspend(() => (buffer.length >= flushAt ? writeLogs : Effect.void)))
        const flushAll = exclusive(Effect.andThen(writeLogs, writeLatest))

        // Added before the flusher is forked, so it runs after the flusher has stopped: nothing is written after it.
        yield* Effect.addFinalizer(() => flushAll)
        yield* Effect.sleep(intervalMillis).pipe(Effect.andThen(flushAll), Effect.forever, Effect.forkScoped)

        const log = Effect.fn("Progress.log")(function* (text: string, level: LogLevel = "info", data?: unknown) {
          // Text no store can keep is replaced in a message (a line that could never be written would hold back
          // every line after it); in data, it is refused, as any value that is not JSON.
          const message = storableText(text)
          if (data !== undefined && !isJson(data)) {
            return yield* new LogDataNotSerializable({
              logMessage: message,
              reason: "not a JSON value (NaN, Infinity, undefined, a function, a class instance or a cycle in it)"
            })
          }
          const unkept = data === undefined ? undefined : unstorable(data)
          if (unkept !== undefined) return yield* new LogDataNotSerializable({ logMessage: message, reason: unkept })
          // A copy: the caller may keep mutating its value while the line waits in the buffer.
          const json = data === undefined ? undefined : structuredClone(data as Schema.Json)
          const event = (yield* events.publish({
            _tag: "LogWritten",
            taskId: task.id,
            taskName: task.name,
            level,
            message,
            ...(json === undefined ? {} : { data: json })
          })) as LogWritten
          if (keepLogs > 0) {
            buffer.push({ level, message, ...(json === undefined ? {} : { data: json }), at: event.at })
            // Older lines would be dropped by the store anyway.
            if (buffer.length > keepLogs) buffer.splice(0, buffer.length - keepLogs)
          }
          if (handler !== undefined) yield* handler(event)
          if (buffer.length >= flushAt) yield* flushIfFull
        })

        const update = Effect.fn("Progress.update")(function* (percent: number, text?: string) {
          const message = text === undefined ? undefined : storableText(text)
          if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
            return yield* new InvalidProgress({
              percent,
              reason: Number.isFinite(percent) ? "outside 0..100" : "not a finite number"
            })
          }
          const event = (yield* events.publish({
            _tag: "ProgressReported",
            taskId: task.id,
            taskName: task.name,
            percent,
            message: message ?? ""
          })) as ProgressReported
          pending = { ...pending, percent, message: event.message, updatedAt: event.at }
          if (handler !== undefined) yield* handler(event)
        })

        const status = Effect.fn("Progress.status")(function* (text: string) {
          const message = storableText(text)
          const event = (yield* events.publish({
            _tag: "StatusMessage",
            taskId: task.id,
            taskName: task.name,
            message
          })) as StatusMessage
          pending = { ...pending, status: message, updatedAt: event.at }
          if (handler !== undefined) yield* handler(event)
        })

        return Progress.of({ log, update, status, shouldStop: task.shouldStop })
      })
    )
  }
}
