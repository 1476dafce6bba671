/**
 * A `ProgressStore` in this process's memory. Every operation is one synchronous step, so an append and its trim
 * happen with nothing in between; `seq` comes from one counter for the whole store, so it is never reused.
 */
import { Effect, Layer, Option } from "effect"
import {
  type AppendOptions,
  type LatestUpdate,
  type LogEntry,
  type LogQuery,
  type NewLogEntry,
  type ProgressLatest,
  ProgressStore
} from "../ProgressStore.ts"
import { closable } from "./closable.ts"

/** Builds an empty in-memory progress store. */
export const make = Effect.sync(() => {
  const latest = new Map<string, ProgressLatest>()
  /** Ascending by `seq`: every append takes larger numbers, so pushing keeps the order. */
  const logs = new Map<string, Array<LogEntry>>()
  let seq = 0

  const setLatest = (taskId: string, update: LatestUpdate) =>
    Effect.sync(() => {
      const current = latest.get(taskId)
      const percent = update.percent ?? current?.percent
      const message = update.message ?? current?.message
      const status = update.status ?? current?.status
      latest.set(taskId, {
        taskId,
        ...(percent === undefined ? {} : { percent }),
        ...(message === undefined ? {} : { message }),
        ...(status === undefined ? {} : { status }),
        updatedAt: update.updatedAt
      })
    })

  const getLatest = (taskId: string) => Effect.sync(() => Option.fromUndefinedOr(latest.get(taskId)))

  const appendLogs = (taskId: string, entries: ReadonlyArray<NewLogEntry>, options: AppendOptions) =>
    Effect.sync(() => {
      if (entries.length === 0) return
      const keepLast = Math.max(0, Math.floor(options.keepLast))
      const lines = logs.get(taskId) ?? []
      for (const entry of entries) {
        lines.push({
          seq: ++seq,
          level: entry.level,
          message: entry.message,
          // A copy: the caller may keep mutating its value, and what was stored must not change with it.
          ...(entry.data === undefined ? {} : { data: structuredClone(entry.data) }),
          at: entry.at
        })
      }
      if (lines.length > keepLast) lines.splice(0, lines.length - keepLast)
      if (lines.length === 0) logs.delete(taskId)
      else logs.set(taskId, lines)
    })

  const listLogs = (taskId: string, query: LogQuery) =>
    Effect.sync((): ReadonlyArray<LogEntry> => {
      const lines = logs.get(taskId) ?? []
      const limit = Math.max(0, Math.floor(query.limit))
      const afterSeq = query.afterSeq
      const start = afterSeq === undefined ? 0 : firstAfter(lines, afterSeq)
      return lines.slice(start, start + limit)
    })

  const clear = (taskId: string) =>
    Effect.sync(() => {
      latest.delete(taskId)
      logs.delete(taskId)
    })

  return ProgressStore.of({ setLatest, getLatest, appendLogs, listLogs, clear })
})

/** The index of the first line whose `seq` is above `seq`. */
const firstAfter = (lines: ReadonlyArray<LogEntry>, seq: number): number => {
  let low = 0
  let high = lines.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((lines[middle] as LogEntry).seq <= seq) low = middle + 1
    else high = middle
  }
  return low
}

/** A fresh in-memory progress store for each build of the layer. */
export const layer: Layer.Layer<ProgressStore> = Layer.effect(ProgressStore, Effect.flatMap(make, closable))
