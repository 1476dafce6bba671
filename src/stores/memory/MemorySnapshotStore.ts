/**
 * A `SnapshotStore` in this process's memory. Every operation is one synchronous step, so a version is read and
 * assigned with nothing in between; each task keeps its versions in order plus a pointer to the latest.
 */
import { Clock, Effect, Layer, Option } from "effect"
import {
  type ForkResult,
  type NewSnapshot,
  type SnapshotOrigin,
  type SnapshotPruneOptions,
  type SnapshotQuery,
  type SnapshotRecord,
  type SnapshotRecordPage,
  SnapshotStore
} from "../SnapshotStore.ts"

interface History {
  /** Ascending by version: versions only grow, so appending keeps the order. */
  versions: Array<SnapshotRecord>
  readonly byVersion: Map<number, SnapshotRecord>
  latest: SnapshotRecord
}

/** The index of the first snapshot whose version is at least `version`. */
const lowerBound = (versions: ReadonlyArray<SnapshotRecord>, version: number): number => {
  let low = 0
  let high = versions.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((versions[middle] as SnapshotRecord).version < version) low = middle + 1
    else high = middle
  }
  return low
}

/** Builds an empty in-memory snapshot store. */
export const make = Effect.sync(() => {
  const histories = new Map<string, History>()

  const append = (record: SnapshotRecord) => {
    const history = histories.get(record.taskId)
    if (history === undefined) {
      histories.set(record.taskId, {
        versions: [record],
        byVersion: new Map([[record.version, record]]),
        latest: record
      })
      return
    }
    history.versions.push(record)
    history.byVersion.set(record.version, record)
    history.latest = record
  }

  const build = (
    taskId: string,
    version: number,
    now: number,
    snapshot: Omit<NewSnapshot, "taskId">,
    origin: SnapshotOrigin | undefined
  ): SnapshotRecord => ({
    id: crypto.randomUUID(),
    taskId,
    version,
    // A copy: the caller may keep mutating its value, and what was saved must not change with it.
    data: structuredClone(snapshot.data),
    checkpoint: snapshot.checkpoint,
    createdAt: now,
    ...(snapshot.dataVersion === undefined ? {} : { dataVersion: snapshot.dataVersion }),
    ...(origin === undefined ? {} : { origin })
  })

  const save = (snapshot: NewSnapshot) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const version = (histories.get(snapshot.taskId)?.latest.version ?? 0) + 1
      const record = build(snapshot.taskId, version, now, snapshot, undefined)
      append(record)
      return record
    })

  const latest = (taskId: string) => Effect.sync(() => Option.fromUndefinedOr(histories.get(taskId)?.latest))

  const get = (taskId: string, version: number) =>
    Effect.sync(() => Option.fromUndefinedOr(histories.get(taskId)?.byVersion.get(version)))

  const list = (taskId: string, query: SnapshotQuery) =>
    Effect.sync((): SnapshotRecordPage => {
      const history = histories.get(taskId)
      if (history === undefined) return { items: [], nextBefore: undefined }
      const limit = Math.max(1, Math.min(Math.floor(query.limit), 1000))
      const end = query.before === undefined ? history.versions.length : lowerBound(history.versions, query.before)
      const start = Math.max(0, end - limit)
      const items = history.versions.slice(start, end).reverse()
      const last = items.at(-1)
      return { items, nextBefore: start > 0 && last !== undefined ? last.version : undefined }
    })

  const checkpoints = (taskId: string) =>
    Effect.sync(() => (histories.get(taskId)?.versions ?? []).filter((s) => s.checkpoint).reverse())

  const prune = (taskId: string, options: SnapshotPruneOptions) =>
    Effect.sync(() => {
      const history = histories.get(taskId)
      if (history === undefined) return 0
      const keepFrom = history.versions.length - Math.max(1, Math.floor(options.keepLast))
      const kept: Array<SnapshotRecord> = []
      history.versions.forEach((snapshot, index) => {
        if (index >= keepFrom || (options.keepCheckpoints && snapshot.checkpoint)) kept.push(snapshot)
        else history.byVersion.delete(snapshot.version)
      })
      const removed = history.versions.length - kept.length
      history.versions = kept
      return removed
    })

  const fork = (from: SnapshotOrigin, toTaskId: string) =>
    Effect.map(Clock.currentTimeMillis, (now): ForkResult => {
      const source = histories.get(from.taskId)?.byVersion.get(from.version)
      if (source === undefined) return { _tag: "SourceMissing" }
      if (histories.has(toTaskId)) return { _tag: "TargetNotEmpty" }
      const snapshot = build(toTaskId, 1, now, source, { taskId: from.taskId, version: from.version })
      append(snapshot)
      return { _tag: "Forked", snapshot }
    })

  return SnapshotStore.of({ save, latest, get, list, checkpoints, prune, fork })
})

/** A fresh in-memory snapshot store for each build of the layer. */
export const layer: Layer.Layer<SnapshotStore> = Layer.effect(SnapshotStore, make)
