/**
 * A `SnapshotStore` in this process's memory. Each task keeps its versions in order; saves and forks take one lock
 * per store, so a version is read and assigned with no other save in between. Data is kept as canonical JSON text
 * with its checksum, as a database keeps it: every read checks the checksum and parses a fresh copy.
 */
import { Clock, Effect, Layer, Semaphore } from "effect"
import {
  canonicalJson,
  type ForkResult,
  type NewSnapshot,
  SnapshotCorrupted,
  type SnapshotOrigin,
  type SnapshotPruneOptions,
  type SnapshotQuery,
  type SnapshotRecord,
  type SnapshotRecordPage,
  SnapshotStore,
  type SnapshotSummaryPage,
  type StoredSnapshot,
  snapshotChecksum,
  utf8Length,
  verifySnapshot
} from "../SnapshotStore.ts"
import { closable } from "./closable.ts"

/** A snapshot as this store keeps it. */
interface Row {
  readonly snapshot: Omit<SnapshotRecord, "data">
  /** The data's canonical JSON: what the checksum covers, and a copy no caller can mutate. */
  readonly data: string
  readonly checksum: string
}

interface History {
  /** Ascending by version: the last one is the latest. */
  versions: Array<Row>
  readonly byVersion: Map<number, Row>
}

type Histories = Map<string, History>

/** The rows of every store `make` built, for `corrupt`. */
const rowsOf = new WeakMap<SnapshotStore["Service"], Histories>()

/** The index of the first snapshot whose version is at least `version`. */
const lowerBound = (versions: ReadonlyArray<Row>, version: number): number => {
  let low = 0
  let high = versions.length
  while (low < high) {
    const middle = (low + high) >>> 1
    if ((versions[middle] as Row).snapshot.version < version) low = middle + 1
    else high = middle
  }
  return low
}

/** Puts `row` at its version, in place of any row there. */
const insert = (histories: Histories, row: Row): void => {
  const { taskId, version } = row.snapshot
  const history = histories.get(taskId)
  if (history === undefined) {
    histories.set(taskId, { versions: [row], byVersion: new Map([[version, row]]) })
    return
  }
  const index = lowerBound(history.versions, version)
  history.versions.splice(index, history.byVersion.has(version) ? 1 : 0, row)
  history.byVersion.set(version, row)
}

/** Removes the row at `at`, and the task's history with its last row. */
const remove = (histories: Histories, at: SnapshotOrigin): void => {
  const history = histories.get(at.taskId)
  if (history === undefined || !history.byVersion.delete(at.version)) return
  history.versions.splice(lowerBound(history.versions, at.version), 1)
  if (history.versions.length === 0) histories.delete(at.taskId)
}

/** The snapshot of `row`, once its checksum matches. */
const read = (row: Row): Effect.Effect<SnapshotRecord, SnapshotCorrupted> =>
  Effect.andThen(
    verifySnapshot(row.snapshot, row.data, row.checksum),
    Effect.try({
      try: (): SnapshotRecord => ({ ...row.snapshot, data: JSON.parse(row.data) }),
      catch: () =>
        new SnapshotCorrupted({
          key: row.snapshot.taskId,
          version: row.snapshot.version,
          reason: "its data is not JSON"
        })
    })
  )

const makeRow = (snapshot: Omit<SnapshotRecord, "data">, data: string): Effect.Effect<Row> =>
  Effect.map(snapshotChecksum(snapshot, data), (checksum) => ({ snapshot, data, checksum }))

/** Builds an empty in-memory snapshot store. */
export const make = Effect.sync(() => {
  const histories: Histories = new Map()
  const lock = Semaphore.makeUnsafe(1)

  const latestRow = (taskId: string): Row | undefined => histories.get(taskId)?.versions.at(-1)

  const rowOf = (
    taskId: string,
    version: number,
    now: number,
    snapshot: { readonly checkpoint: boolean; readonly dataVersion?: number | undefined },
    data: string,
    origin: SnapshotOrigin | undefined
  ): Effect.Effect<Row> =>
    makeRow(
      {
        id: crypto.randomUUID(),
        taskId,
        version,
        checkpoint: snapshot.checkpoint,
        createdAt: now,
        ...(snapshot.dataVersion === undefined ? {} : { dataVersion: snapshot.dataVersion }),
        ...(origin === undefined ? {} : { origin })
      },
      data
    )

  /** Stores `row` and returns its snapshot: a copy, not the caller's value, which the caller may keep mutating. */
  const append = (row: Row): SnapshotRecord => {
    insert(histories, row)
    return { ...row.snapshot, data: JSON.parse(row.data) }
  }

  const save = (snapshot: NewSnapshot) =>
    lock.withPermit(
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const version = (latestRow(snapshot.taskId)?.snapshot.version ?? 0) + 1
        return append(yield* rowOf(snapshot.taskId, version, now, snapshot, canonicalJson(snapshot.data), undefined))
      })
    )

  const optionally = (row: Row | undefined) => (row === undefined ? Effect.succeedNone : Effect.asSome(read(row)))

  const latest = (taskId: string) => Effect.suspend(() => optionally(latestRow(taskId)))

  const get = (taskId: string, version: number) =>
    Effect.suspend(() => optionally(histories.get(taskId)?.byVersion.get(version)))

  /** The rows of one page, newest first, and the `before` of the next. */
  const pageOf = (taskId: string, query: SnapshotQuery) => {
    const history = histories.get(taskId)
    if (history === undefined) return { rows: [], nextBefore: undefined }
    const limit = Math.max(1, Math.min(Math.floor(query.limit), 1000))
    const end = query.before === undefined ? history.versions.length : lowerBound(history.versions, query.before)
    const start = Math.max(0, end - limit)
    const rows = history.versions.slice(start, end).reverse()
    const last = rows.at(-1)
    return { rows, nextBefore: start > 0 && last !== undefined ? last.snapshot.version : undefined }
  }

  const list = (taskId: string, query: SnapshotQuery) =>
    Effect.suspend((): Effect.Effect<SnapshotRecordPage, SnapshotCorrupted> => {
      const { rows, nextBefore } = pageOf(taskId, query)
      return Effect.map(Effect.forEach(rows, read), (items) => ({ items, nextBefore }))
    })

  const listSummaries = (taskId: string, query: SnapshotQuery) =>
    Effect.sync((): SnapshotSummaryPage => {
      const { rows, nextBefore } = pageOf(taskId, query)
      return { items: rows.map((row) => ({ ...row.snapshot, dataSizeBytes: utf8Length(row.data) })), nextBefore }
    })

  const checkpoints = (taskId: string) =>
    Effect.suspend(() =>
      Effect.forEach((histories.get(taskId)?.versions ?? []).filter((row) => row.snapshot.checkpoint).reverse(), read)
    )

  const prune = (taskId: string, options: SnapshotPruneOptions) =>
    Effect.sync(() => {
      const history = histories.get(taskId)
      if (history === undefined) return 0
      const keepFrom = history.versions.length - Math.max(1, Math.floor(options.keepLast))
      const kept: Array<Row> = []
      history.versions.forEach((row, index) => {
        if (index >= keepFrom || (options.keepCheckpoints && row.snapshot.checkpoint)) kept.push(row)
        else history.byVersion.delete(row.snapshot.version)
      })
      const removed = history.versions.length - kept.length
      history.versions = kept
      return removed
    })

  const fork = (from: SnapshotOrigin, toTaskId: string) =>
    lock.withPermit(
      Effect.gen(function* () {
        const source = histories.get(from.taskId)?.byVersion.get(from.version)
        if (source === undefined) return { _tag: "SourceMissing" } satisfies ForkResult
        // checked before it is copied: the copy gets a checksum of its own, which would vouch for damaged data
        const record = yield* read(source)
        if (histories.has(toTaskId)) return { _tag: "TargetNotEmpty" } satisfies ForkResult
        const now = yield* Clock.currentTimeMillis
        const row = yield* rowOf(toTaskId, 1, now, record, source.data, from)
        return { _tag: "Forked", snapshot: append(row) } satisfies ForkResult
      })
    )

  const store = SnapshotStore.of({ save, latest, get, list, listSummaries, checkpoints, prune, fork })
  rowsOf.set(store, histories)
  return store
})

/** A fresh in-memory snapshot store for each build of the layer; `corrupt` reaches its rows too. */
export const layer: Layer.Layer<SnapshotStore> = Layer.effect(
  SnapshotStore,
  Effect.flatMap(make, (store) =>
    Effect.tap(closable(store), (guarded) => Effect.sync(() => rowsOf.set(guarded, rowsOf.get(store) as Histories)))
  )
)

/**
 * Rewrites the snapshot at `at` of a store this module built, behind the store's back (no checksum is recomputed),
 * as a damaged disk or a stray edit would: for tests of how readers meet `SnapshotCorrupted`. `change` may move the
 * snapshot to another task or version; one already there is replaced.
 */
export const corrupt = (
  store: SnapshotStore["Service"],
  at: SnapshotOrigin,
  change: (stored: StoredSnapshot) => StoredSnapshot
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const histories = rowsOf.get(store)
    const row = histories?.get(at.taskId)?.byVersion.get(at.version)
    if (histories === undefined || row === undefined) {
      return Effect.die(new Error(`no stored snapshot ${at.taskId}@${at.version} in a memory snapshot store`))
    }
    const changed = change({ record: { ...row.snapshot, data: JSON.parse(row.data) }, checksum: row.checksum })
    const { data, ...snapshot } = changed.record
    remove(histories, at)
    insert(histories, { snapshot, data: canonicalJson(data), checksum: changed.checksum })
    return Effect.void
  })
