/**
 * Sessions of JSON state with named checkpoints and branch snapshots, over any `StorageBackend`. Every stored
 * record carries a SHA-256 checksum checked on load, and may be compressed and encrypted by a `PayloadCodec`; a
 * record that fails either check is a typed error, never data. Ids and names from users are checked before use.
 */
import { Clock, Context, DateTime, Effect, Layer, Option, Schema, Semaphore } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import { InvalidKey, StorageBackend, segmentProblem } from "../../stores/StorageBackend.ts"
import { BranchSnapshot, type BranchSnapshotInput } from "./BranchSnapshot.ts"
import {
  CheckpointNotFound,
  type CodecMismatch,
  type DecryptionFailed,
  SessionNotFound,
  SnapshotCorrupted,
  type SnapshotNotSerializable,
  type SnapshotTooLarge
} from "./errors.ts"
import { checksumOf } from "./internal/checksum.ts"
import { checkSize, toJson } from "./internal/json.ts"
import * as PayloadCodec from "./PayloadCodec.ts"

type Json = Schema.Json

/** How a `StateManager` stores its records. */
export interface StateManagerOptions {
  /** Applied to every record written, and expected on every record read. Default: none. */
  readonly codec?: PayloadCodec.PayloadCodec | undefined
  /** The largest state (as JSON) a session or a branch snapshot may hold. Default: 1 MiB. */
  readonly sizeLimitBytes?: number | undefined
}

/** One checkpoint of a session, as listed. */
export interface CheckpointInfo {
  /** `checkpoint_{sessionId}_{name}_{timestamp}` */
  readonly id: string
  readonly sessionId: string
  readonly name: string
  /** Epoch milliseconds from the `Clock`. */
  readonly createdAt: number
}

/** A stored record could not be read back: it is damaged, or written with other codecs or another key. */
export type ReadError = SnapshotCorrupted | CodecMismatch | DecryptionFailed | StoreError

/** A value could not be written; nothing was. */
export type WriteError = SnapshotNotSerializable | SnapshotTooLarge | StoreError

const SessionRecord = Schema.Struct({
  kind: Schema.Literal("session"),
  sessionId: Schema.String,
  state: Schema.Json,
  updatedAt: Schema.Number,
  checksum: Schema.String
})

const CheckpointRecord = Schema.Struct({
  kind: Schema.Literal("checkpoint"),
  checkpointId: Schema.String,
  sessionId: Schema.String,
  name: Schema.String,
  state: Schema.Json,
  createdAt: Schema.Number,
  checksum: Schema.String
})

const defaultSizeLimitBytes = 1024 * 1024
const checkpointPrefix = "checkpoint_"
const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

const sessionKey = (sessionId: string) => `sessions/${sessionId}`
const branchesKey = (sessionId: string) => `branches/${sessionId}`
const checkpointsPrefix = (sessionId: string) => `checkpoints/${sessionId}/`
const checkpointKey = (sessionId: string, name: string, timestamp: number) =>
  `${checkpointsPrefix(sessionId)}${name}/${timestamp}`
const checkpointIdOf = (sessionId: string, name: string, timestamp: number) =>
  `${checkpointPrefix}${sessionId}_${name}_${timestamp}`

/** Fails with `InvalidKey` when a user's id or name could not be one key segment (`..`, `/`, `\`, NUL, empty). */
const checkSegment = (part: string): Effect.Effect<string, InvalidKey> => {
  const reason = segmentProblem(part)
  return reason === undefined ? Effect.succeed(part) : Effect.fail(new InvalidKey({ key: part, reason }))
}

/**
 * The places a checkpoint id may be stored at. `checkpoint_{session}_{name}_{timestamp}` is ambiguous when the
 * session or the name holds `_`, so every split is a candidate; `createCheckpoint` keeps ids unique across them.
 */
const candidatesOf = (checkpointId: string): ReadonlyArray<string> => {
  const match = /^checkpoint_(.+)_(\d+)$/.exec(checkpointId)
  if (match === null) return []
  const middle = match[1] as string
  const timestamp = Number(match[2])
  const keys: Array<string> = []
  for (let index = middle.indexOf("_"); index !== -1; index = middle.indexOf("_", index + 1)) {
    const sessionId = middle.slice(0, index)
    const name = middle.slice(index + 1)
    if (segmentProblem(sessionId) === undefined && segmentProblem(name) === undefined) {
      keys.push(checkpointKey(sessionId, name, timestamp))
    }
  }
  return keys
}

export class StateManager extends Context.Service<
  StateManager,
  {
    /** Replaces the session's state (creating the session). */
    readonly saveSession: (sessionId: string, state: unknown) => Effect.Effect<void, InvalidKey | WriteError>
    readonly loadSession: (sessionId: string) => Effect.Effect<Option.Option<Json>, InvalidKey | ReadError>
    /** Copies the session's current state into a new checkpoint and returns its id. */
    readonly createCheckpoint: (
      sessionId: string,
      name: string
    ) => Effect.Effect<string, InvalidKey | SessionNotFound | ReadError>
    /** Makes a checkpoint's state the session's current state again, and returns it. */
    readonly restoreCheckpoint: (
      checkpointId: string
    ) => Effect.Effect<Json, InvalidKey | CheckpointNotFound | ReadError | WriteError>
    /** The ids of every session with a state, sorted. */
    readonly listSessions: () => Effect.Effect<ReadonlyArray<string>, StoreError>
    /** The session's checkpoints, oldest first. */
    readonly listCheckpoints: (
      sessionId: string
    ) => Effect.Effect<ReadonlyArray<CheckpointInfo>, InvalidKey | StoreError>
    /** Removes the session with its checkpoints and branch snapshot; `false` when there was nothing to remove. */
    readonly deleteSession: (sessionId: string) => Effect.Effect<boolean, InvalidKey | StoreError>
    /**
     * Removes every session last saved before `cutoff` (with its checkpoints and branch snapshot) and returns how
     * many it removed. A session whose record cannot be read is left in place, with a warning in the log.
     */
    readonly deleteSessionsOlderThan: (cutoff: DateTime.DateTime) => Effect.Effect<number, StoreError>
    /** Saves the session's branch snapshot with a fresh checksum (the time from the Clock unless given). */
    readonly saveBranchSnapshot: (
      snapshot: BranchSnapshotInput
    ) => Effect.Effect<BranchSnapshot, InvalidKey | WriteError>
    /** The session's branch snapshot, after its checksum was checked. */
    readonly loadBranchSnapshot: (
      sessionId: string
    ) => Effect.Effect<Option.Option<BranchSnapshot>, InvalidKey | ReadError>
  }
>()("waypoint/plugins/snapshots/StateManager") {
  /**
   * A state manager over the `StorageBackend` in context.
   *
   * @example
   * ```ts
   * const program = Effect.gen(function* () {
   *   const states = yield* StateManager
   *   yield* states.saveSession("s1", { step: 3 })
   *   const checkpoint = yield* states.createCheckpoint("s1", "before-merge")
   *   yield* states.restoreCheckpoint(checkpoint)
   * }).pipe(Effect.provide(StateManager.layer().pipe(Layer.provide(FileStorageBackend.layer({ directory: ".state" })))))
   * ```
   */
  static layer(options: StateManagerOptions = {}): Layer.Layer<StateManager, never, StorageBackend> {
    return Layer.effect(StateManager, make(options))
  }
}

const make = Effect.fnUntraced(function* (options: StateManagerOptions) {
  const backend = yield* StorageBackend
  const codec = options.codec
  const sizeLimitBytes = options.sizeLimitBytes ?? defaultSizeLimitBytes
  // Picking a free checkpoint id and writing it must not interleave with another create in this process.
  const createLock = yield* Semaphore.make(1)

  /** Writes `record` with its checksum, through the codec, and returns the checksum. */
  const write = Effect.fnUntraced(function* (key: string, record: Schema.JsonObject) {
    const checksum = yield* checksumOf(record)
    const bytes = yield* PayloadCodec.seal(codec, utf8.encode(JSON.stringify({ ...record, checksum })))
    yield* backend.save(key, bytes)
    return checksum
  })

  /** Reads the record at `key`: through the codec, then its layout, then its checksum. */
  const read = Effect.fnUntraced(function* <A>(key: string, schema: Schema.Codec<A, unknown>) {
    const stored = yield* backend.load(key)
    if (Option.isNone(stored)) return Option.none<A>()
    const bytes = yield* PayloadCodec.open(codec, stored.value, key)
    const corrupted = (reason: string) => new SnapshotCorrupted({ key, reason })
    const json = yield* Effect.try({
      try: () => JSON.parse(strictUtf8.decode(bytes)) as unknown,
      catch: () => corrupted("it is not valid UTF-8 JSON")
    })
    const record = yield* Schema.decodeUnknownEffect(schema)(json).pipe(
      Effect.mapError((error) => corrupted(`it is not a record of the expected layout: ${error.message}`))
    )
    // The checksum is over the JSON as stored, so an added or changed field of any kind is caught.
    const actual = yield* checksumOf(json as Schema.JsonObject)
    if (actual !== (json as { readonly checksum: unknown }).checksum) {
      return yield* corrupted("its checksum does not match its content")
    }
    return Option.some(record)
  })

  const validState = Effect.fnUntraced(function* (sessionId: string, state: unknown) {
    const json = yield* toJson(sessionId, state)
    yield* checkSize(sessionId, json, sizeLimitBytes)
    return json
  })

  const saveSession = Effect.fn("StateManager.saveSession")(function* (sessionId: string, state: unknown) {
    yield* checkSegment(sessionId)
    const json = yield* validState(sessionId, state)
    const now = yield* Clock.currentTimeMillis
    yield* write(sessionKey(sessionId), { kind: "session", sessionId, state: json, updatedAt: now })
  })

  const loadSession = Effect.fn("StateManager.loadSession")(function* (sessionId: string) {
    yield* checkSegment(sessionId)
    const record = yield* read(sessionKey(sessionId), SessionRecord)
    return Option.map(record, (r) => r.state)
  })

  const createCheckpoint = Effect.fn("StateManager.createCheckpoint")(function* (sessionId: string, name: string) {
    yield* checkSegment(sessionId)
    yield* checkSegment(name)
    const session = yield* read(sessionKey(sessionId), SessionRecord)
    if (Option.isNone(session)) return yield* new SessionNotFound({ sessionId })
    let createdAt = yield* Clock.currentTimeMillis
    // Two checkpoints of one name in one millisecond, or an id that another session's split could also
    // produce, would share an id: move to the next free millisecond.
    while (true) {
      const taken = yield* Effect.forEach(candidatesOf(checkpointIdOf(sessionId, name, createdAt)), backend.exists)
      if (!taken.includes(true)) break
      createdAt++
    }
    const checkpointId = checkpointIdOf(sessionId, name, createdAt)
    yield* write(checkpointKey(sessionId, name, createdAt), {
      kind: "checkpoint",
      checkpointId,
      sessionId,
      name,
      state: session.value.state,
      createdAt
    })
    return checkpointId
  }, Semaphore.withPermit(createLock))

  const restoreCheckpoint = Effect.fn("StateManager.restoreCheckpoint")(function* (checkpointId: string) {
    yield* checkSegment(checkpointId)
    for (const key of candidatesOf(checkpointId)) {
      const record = yield* read(key, CheckpointRecord)
      if (Option.isSome(record) && record.value.checkpointId === checkpointId) {
        yield* saveSession(record.value.sessionId, record.value.state)
        return record.value.state
      }
    }
    return yield* new CheckpointNotFound({ checkpointId })
  })

  const listSessions = Effect.fn("StateManager.listSessions")(function* () {
    const keys = yield* backend.listKeys("sessions/")
    return keys.map((key) => key.slice("sessions/".length))
  })

  const listCheckpoints = Effect.fn("StateManager.listCheckpoints")(function* (sessionId: string) {
    yield* checkSegment(sessionId)
    const prefix = checkpointsPrefix(sessionId)
    const keys = yield* backend.listKeys(prefix)
    return keys
      .flatMap((key): Array<CheckpointInfo> => {
        const [name, timestamp] = key.slice(prefix.length).split("/")
        if (name === undefined || timestamp === undefined || !/^\d+$/.test(timestamp)) return []
        const createdAt = Number(timestamp)
        return [{ id: checkpointIdOf(sessionId, name, createdAt), sessionId, name, createdAt }]
      })
      .sort((a, b) => a.createdAt - b.createdAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  })

  const deleteSession = Effect.fn("StateManager.deleteSession")(function* (sessionId: string) {
    yield* checkSegment(sessionId)
    // The session record goes last: if this stops half-way, the session is still listed and can be deleted again.
    const checkpoints = yield* backend.listKeys(checkpointsPrefix(sessionId))
    const removed = yield* Effect.forEach([...checkpoints, branchesKey(sessionId), sessionKey(sessionId)], (key) =>
      backend.delete(key)
    )
    return removed.includes(true)
  })

  const deleteSessionsOlderThan = Effect.fn("StateManager.deleteSessionsOlderThan")(function* (
    cutoff: DateTime.DateTime
  ) {
    const cutoffMillis = DateTime.toEpochMillis(cutoff)
    const sessionIds = yield* listSessions()
    let removed = 0
    for (const sessionId of sessionIds) {
      const record = yield* read(sessionKey(sessionId), SessionRecord).pipe(
        Effect.catchTags({
          SnapshotCorrupted: (error) => Effect.as(Effect.logWarning(error.message), Option.none()),
          CodecMismatch: (error) => Effect.as(Effect.logWarning(error.message), Option.none()),
          DecryptionFailed: (error) => Effect.as(Effect.logWarning(error.message), Option.none()),
          InvalidKey: (error) => Effect.as(Effect.logWarning(error.message), Option.none())
        })
      )
      if (Option.isSome(record) && record.value.updatedAt < cutoffMillis) {
        yield* deleteSession(sessionId).pipe(Effect.catchTag("InvalidKey", () => Effect.succeed(false)))
        removed++
      }
    }
    return removed
  })

  const saveBranchSnapshot = Effect.fn("StateManager.saveBranchSnapshot")(function* (input: BranchSnapshotInput) {
    yield* checkSegment(input.sessionId)
    const timestamp = input.timestamp ?? (yield* Clock.currentTimeMillis)
    const content = (yield* validState(input.sessionId, { ...input, timestamp })) as Schema.JsonObject
    const checksum = yield* write(branchesKey(input.sessionId), content)
    return { ...(content as unknown as Omit<BranchSnapshot, "checksum">), checksum }
  })

  const loadBranchSnapshot = Effect.fn("StateManager.loadBranchSnapshot")(function* (sessionId: string) {
    yield* checkSegment(sessionId)
    return yield* read(branchesKey(sessionId), BranchSnapshot)
  })

  return StateManager.of({
    saveSession,
    loadSession,
    createCheckpoint,
    restoreCheckpoint,
    listSessions,
    listCheckpoints,
    deleteSession,
    deleteSessionsOlderThan,
    saveBranchSnapshot,
    loadBranchSnapshot
  })
})
