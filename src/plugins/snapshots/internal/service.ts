/**
 * The `Snapshots` service of one execution, over its task and the store. Building it does no I/O; the version of
 * each save is assigned by the store, so concurrent saves from many fibers never collide.
 */
import { Effect, Option, Schema } from "effect"
import type { TaskInfo } from "../../../runtime/TaskInfo.ts"
import type { SnapshotRecord, SnapshotStore } from "../../../stores/SnapshotStore.ts"
import { isVersioned, type Versioned } from "../../versioning/Versioned.ts"
import { SnapshotForkConflict, SnapshotInvalid, SnapshotNotFound } from "../errors.ts"
import type {
  PolicyEvent,
  ReadError,
  Snapshot,
  SnapshotSchema,
  Snapshots,
  SnapshotsApi,
  SnapshotsOptions
} from "../Snapshots.ts"
import { checkSize, toJson } from "./json.ts"
import type { Staging } from "./staging.ts"

type Json = Schema.Json

const defaultSizeLimitBytes = 1024 * 1024

/** How one view of the service turns values into stored JSON and back. */
interface DataCodec<A> {
  readonly encode: (
    value: unknown
  ) => Effect.Effect<{ readonly data: unknown; readonly dataVersion: number | undefined }, SnapshotInvalid>
  readonly decode: (record: SnapshotRecord) => Effect.Effect<A, ReadError>
  /** What a save returns as data: the value given (typed views) or its JSON copy (the plain view). */
  readonly saved: (value: unknown, json: Json) => A
}

const jsonCodec: DataCodec<Json> = {
  encode: (value) => Effect.succeed({ data: value, dataVersion: undefined }),
  decode: (record) => Effect.succeed(record.data),
  saved: (_value, json) => json
}

const schemaCodec = <A>(taskId: string, schema: Schema.Codec<A, unknown>): DataCodec<A> => {
  const codec = Schema.toCodecJson(schema) as unknown as Schema.Codec<A, Json>
  return {
    encode: (value) =>
      Schema.encodeUnknownEffect(codec)(value).pipe(
        Effect.map((data) => ({ data, dataVersion: undefined })),
        Effect.mapError((error) => new SnapshotInvalid({ taskId, issue: error.message }))
      ),
    decode: (record) =>
      Effect.mapError(
        Schema.decodeUnknownEffect(codec)(record.data),
        (error) => new SnapshotInvalid({ taskId, version: record.version, issue: error.message })
      ),
    saved: (value) => value as A
  }
}

const versionedCodec = <A>(taskId: string, versioned: Versioned<A>): DataCodec<A> => ({
  encode: (value) =>
    versioned.encode(value as A).pipe(
      Effect.map((encoded) => ({ data: encoded.data, dataVersion: encoded.version })),
      Effect.mapError((error) => new SnapshotInvalid({ taskId, issue: error.message }))
    ),
  decode: (record) =>
    versioned
      .decode(record.data, record.dataVersion)
      .pipe(
        Effect.catchTag("InvalidVersionedData", (error) =>
          Effect.fail(new SnapshotInvalid({ taskId, version: record.version, issue: error.message }))
        )
      ),
  saved: (value) => value as A
})

export const makeSnapshots = (
  task: TaskInfo["Service"],
  store: SnapshotStore["Service"],
  options: SnapshotsOptions,
  staging: Staging
): Snapshots["Service"] => {
  const sizeLimitBytes = options.sizeLimitBytes ?? defaultSizeLimitBytes
  const policy = options.policy ?? {}
  let stateWrites = 0

  const view = <A, In>(codec: DataCodec<A>): SnapshotsApi<A, In> => {
    const decodeRecord = (record: SnapshotRecord): Effect.Effect<Snapshot<A>, ReadError> =>
      Effect.map(codec.decode(record), (data) => ({ ...record, data }))

    /** Everything a save checks, before anything is written. */
    const prepare = Effect.fnUntraced(function* (value: unknown) {
      const encoded = yield* codec.encode(value)
      const data = yield* toJson(task.id, encoded.data)
      yield* checkSize(task.id, data, sizeLimitBytes)
      return { data, dataVersion: encoded.dataVersion }
    })

    const save = Effect.fn("Snapshots.save")(function* (
      value: In,
      saveOptions?: { readonly checkpoint?: boolean | undefined }
    ) {
      const prepared = yield* prepare(value)
      const record = yield* store.save({
        taskId: task.id,
        data: prepared.data,
        checkpoint: saveOptions?.checkpoint ?? false,
        dataVersion: prepared.dataVersion
      })
      return { ...record, data: codec.saved(value, prepared.data) } satisfies Snapshot<A>
    })

    const latest = Effect.fn("Snapshots.latest")(function* () {
      const record = yield* store.latest(task.id)
      if (Option.isNone(record)) return Option.none<Snapshot<A>>()
      return Option.some(yield* decodeRecord(record.value))
    })

    const latestOr = Effect.fn("Snapshots.latestOr")(function* (initial: A) {
      const snapshot = yield* latest()
      return Option.isSome(snapshot) ? snapshot.value.data : initial
    })

    const getRecord = Effect.fnUntraced(function* (version: number) {
      const record = yield* store.get(task.id, version)
      if (Option.isNone(record)) return yield* new SnapshotNotFound({ taskId: task.id, version })
      return record.value
    })

    const get = Effect.fn("Snapshots.get")(function* (version: number) {
      return yield* decodeRecord(yield* getRecord(version))
    })

    const list = Effect.fn("Snapshots.list")(function* (listOptions?: {
      readonly limit?: number | undefined
      readonly before?: number | undefined
    }) {
      const page = yield* store.list(task.id, { limit: listOptions?.limit ?? 100, before: listOptions?.before })
      const items = yield* Effect.forEach(page.items, decodeRecord)
      return { items, nextBefore: page.nextBefore }
    })

    const checkpoints = Effect.fn("Snapshots.checkpoints")(function* () {
      return yield* Effect.forEach(yield* store.checkpoints(task.id), decodeRecord)
    })

    const rollback = Effect.fn("Snapshots.rollback")(function* (version: number) {
      const record = yield* getRecord(version)
      // Decoded first: a rollback to a version that no longer reads would leave an unreadable latest.
      const decoded = yield* decodeRecord(record)
      const saved = yield* store.save({
        taskId: task.id,
        data: record.data,
        checkpoint: false,
        dataVersion: record.dataVersion
      })
      return { ...saved, data: decoded.data } satisfies Snapshot<A>
    })

    const prune = Effect.fn("Snapshots.prune")(function* (pruneOptions: {
      readonly keepLast: number
      readonly keepCheckpoints: boolean
    }) {
      return yield* store.prune(task.id, pruneOptions)
    })

    const fork = Effect.fn("Snapshots.fork")(function* (version: number, toTaskId: string) {
      const result = yield* store.fork({ taskId: task.id, version }, toTaskId)
      switch (result._tag) {
        case "Forked":
          return yield* decodeRecord(result.snapshot)
        case "SourceMissing":
          return yield* new SnapshotNotFound({ taskId: task.id, version })
        case "TargetNotEmpty":
          return yield* new SnapshotForkConflict({ taskId: toTaskId })
      }
    })

    const stage = Effect.fn("Snapshots.stage")(function* (value: In) {
      staging.set(task.id, yield* prepare(value))
    })

    return { save, latest, latestOr, get, list, checkpoints, rollback, prune, fork, stage }
  }

  const plain = view<Json, unknown>(jsonCodec)

  const shouldSave = (event: PolicyEvent): boolean => {
    if (event === "step") return policy.afterEveryStep === true
    const every = policy.everyStateWrites
    if (every === undefined || every < 1) return false
    stateWrites++
    return stateWrites % Math.floor(every) === 0
  }

  const observe = <E, R>(event: PolicyEvent, capture: Effect.Effect<unknown, E, R>) =>
    Effect.suspend(() =>
      shouldSave(event)
        ? Effect.map(
            Effect.flatMap(capture, (value) => plain.save(value)),
            Option.some
          )
        : Effect.succeed(Option.none<Snapshot<Json>>())
    ).pipe(Effect.withSpan("Snapshots.observe"))

  const typed = <A>(schema: SnapshotSchema<A>): SnapshotsApi<A> =>
    view<A, A>(
      isVersioned(schema)
        ? versionedCodec(task.id, schema as Versioned<A>)
        : schemaCodec(task.id, schema as Schema.Codec<A, unknown>)
    )

  return { ...plain, typed, observe }
}
