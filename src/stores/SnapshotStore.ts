/**
 * The contract every snapshot store implements: an append-only history of JSON snapshots per task, numbered
 * 1, 2, 3... by the store itself, so concurrent saves never share or skip a version. Every operation is one
 * statement on a SQL store (`version = max + 1` inside the insert, unique `(task_id, version)`). Every snapshot is
 * stored with a SHA-256 checksum of its content, and every read that returns one checks it first: a damaged snapshot
 * is `SnapshotCorrupted`, never data.
 */
import { Context, Effect, type Option, Schema, Struct } from "effect"
import type { StoreError } from "./errors.ts"

/** The task and version a forked snapshot was copied from. */
export const SnapshotOrigin = Schema.Struct({ taskId: Schema.String, version: Schema.Number })
export type SnapshotOrigin = typeof SnapshotOrigin.Type

/** One snapshot as every store keeps it. `createdAt` is epoch milliseconds from the runtime's `Clock`. */
export const SnapshotRecord = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  /** 1 for a task's first snapshot, then one more for each save. */
  version: Schema.Number,
  data: Schema.Json,
  checkpoint: Schema.Boolean,
  createdAt: Schema.Number,
  /** The version of the data's Schema (see `Versioned`), when the data is versioned. */
  dataVersion: Schema.optionalKey(Schema.Number),
  origin: Schema.optionalKey(SnapshotOrigin)
})
export type SnapshotRecord = typeof SnapshotRecord.Type

/** A snapshot as `listSummaries` gives it: every field but its data, and the size of that data. */
export const SnapshotSummary = SnapshotRecord.mapFields((fields) => ({
  ...Struct.omit(fields, ["data"]),
  /** The size of its data as UTF-8 JSON text (`JSON.stringify`), in bytes: the measure a snapshot size limit takes. */
  dataSizeBytes: Schema.Number
}))
export type SnapshotSummary = typeof SnapshotSummary.Type

/** What `save` needs; the store assigns the id, the version and the time. */
export interface NewSnapshot {
  readonly taskId: string
  readonly data: Schema.Json
  readonly checkpoint: boolean
  readonly dataVersion?: number | undefined
}

/** Paging for `list`: at most `limit` snapshots, newest first, with versions below `before` when it is given. */
export interface SnapshotQuery {
  /** Clamped to 1..1000. */
  readonly limit: number
  readonly before?: number | undefined
}

/** One page of snapshots, newest first; pass `nextBefore` as `before` to read the next page. */
export interface SnapshotRecordPage {
  readonly items: ReadonlyArray<SnapshotRecord>
  readonly nextBefore: number | undefined
}

/** One page of `listSummaries`, newest first, as `SnapshotRecordPage` pages. */
export interface SnapshotSummaryPage {
  readonly items: ReadonlyArray<SnapshotSummary>
  readonly nextBefore: number | undefined
}

/** What `prune` keeps: the newest `keepLast` versions (the latest always), and every checkpoint if asked. */
export interface SnapshotPruneOptions {
  readonly keepLast: number
  readonly keepCheckpoints: boolean
}

/** How a `fork` ended: the new snapshot, or why nothing was written. */
export type ForkResult =
  | { readonly _tag: "Forked"; readonly snapshot: SnapshotRecord }
  | { readonly _tag: "SourceMissing" }
  /** The target task already has snapshots, so the copy cannot be its version 1. */
  | { readonly _tag: "TargetNotEmpty" }

/**
 * A stored value failed its integrity check: its checksum does not match, or it is not the JSON it should be.
 * The value is not returned. For a task snapshot, `key` is the task's id and `version` the snapshot's; for a
 * `StateManager` record, `key` is its key.
 */
export class SnapshotCorrupted extends Schema.TaggedError<SnapshotCorrupted>()("SnapshotCorrupted", {
  key: Schema.String,
  version: Schema.optionalKey(Schema.Number),
  reason: Schema.String
}) {
  override get message() {
    const which =
      this.version === undefined
        ? `stored value "${this.key}"`
        : `snapshot version ${this.version} of task "${this.key}"`
    return `${which} is corrupted: ${this.reason}`
  }
}

/** A snapshot as a store keeps it: the record and the checksum written with it (see `snapshotChecksum`). */
export interface StoredSnapshot {
  readonly record: SnapshotRecord
  readonly checksum: string
}

const encoder = new TextEncoder()

// Each object's keys are put in sorted order before JSON.stringify writes it (into an object without a prototype, so
// that a key "__proto__" stays a key); JavaScript lists integer-like keys first, ascending, whatever the order they
// were put in, which still gives one text per value. Twice as fast as building the text in JavaScript.
const sortKeys = (_key: string, value: unknown): unknown => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value
  const object = value as Record<string, unknown>
  const sorted: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(object).sort()) sorted[key] = object[key]
  return sorted
}

/**
 * The size of `text` in bytes once encoded as UTF-8, counted without encoding it (a lone surrogate counts as the
 * three bytes of U+FFFD, as `TextEncoder` writes it).
 */
export const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code < 0xdc00 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * `json` as text with no whitespace and every object's keys in one order, so that a value has one text whatever order
 * its keys were written in (PostgreSQL's jsonb reorders them): what a snapshot's checksum covers of its data.
 */
export const canonicalJson = (json: Schema.Json): string => JSON.stringify(json, sortKeys)

/** What is used of `node:crypto`, where the runtime has it. */
interface NodeCrypto {
  readonly createHash: (algorithm: "sha256") => {
    update(text: string, encoding: "utf8"): { digest(encoding: "hex"): string }
  }
}

// Node (22.3+) and Deno give node:crypto's synchronous hash through `process.getBuiltinModule`, without an import the
// core cannot make: 2 against 55 µs for a 200-byte snapshot here, where Web Crypto's digest waits on a thread pool.
const nodeCrypto = (
  globalThis as { readonly process?: { readonly getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined

/** The SHA-256 of `text` (as UTF-8), in lower-case hex: node:crypto where the runtime has it, else Web Crypto. */
export const sha256Hex = (text: string): Effect.Effect<string> =>
  nodeCrypto === undefined
    ? Effect.orDie(
        Effect.tryPromise(() =>
          crypto.subtle
            .digest("SHA-256", encoder.encode(text))
            .then((digest) => Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join(""))
        )
      )
    : Effect.sync(() => nodeCrypto.createHash("sha256").update(text, "utf8").digest("hex"))

/**
 * The start of the text a snapshot's checksum is taken over: a JSON array of every field but the data and the
 * version. The whole text is `head + canonicalJson(data) + "," + version + "]"`, so that a SQL store can hash it in
 * the statement that assigns the version: `sha256(convert_to($head || $data || ',' || version::text || ']', 'UTF8'))`.
 */
export const snapshotChecksumHead = (snapshot: Omit<SnapshotRecord, "data" | "version">): string =>
  `${JSON.stringify([
    snapshot.id,
    snapshot.taskId,
    snapshot.createdAt,
    snapshot.checkpoint,
    snapshot.dataVersion ?? null,
    snapshot.origin?.taskId ?? null,
    snapshot.origin?.version ?? null
  ]).slice(0, -1)},`

/**
 * The checksum a store writes with a snapshot: the SHA-256 (lower-case hex) of every field, so that a change to any
 * of them (its data, its version, the task it belongs to) is seen. `dataText` is `canonicalJson` of its data.
 */
export const snapshotChecksum = (snapshot: Omit<SnapshotRecord, "data">, dataText: string): Effect.Effect<string> =>
  sha256Hex(`${snapshotChecksumHead(snapshot)}${dataText},${JSON.stringify(snapshot.version)}]`)

/**
 * Succeeds when `checksum` is the one a snapshot with these fields and this data (`dataText`, its canonical JSON) was
 * written with, else fails with `SnapshotCorrupted` naming its task and version. Every store runs it before it
 * returns a stored snapshot.
 */
export const verifySnapshot = (
  snapshot: Omit<SnapshotRecord, "data">,
  dataText: string,
  checksum: string
): Effect.Effect<void, SnapshotCorrupted> =>
  Effect.flatMap(snapshotChecksum(snapshot, dataText), (actual) =>
    actual === checksum
      ? Effect.void
      : Effect.fail(
          new SnapshotCorrupted({
            key: snapshot.taskId,
            version: snapshot.version,
            reason: "its checksum does not match its content"
          })
        )
  )

export class SnapshotStore extends Context.Service<
  SnapshotStore,
  {
    /** Appends a snapshot as the task's next version, assigned atomically: concurrent saves get distinct versions. */
    readonly save: (snapshot: NewSnapshot) => Effect.Effect<SnapshotRecord, StoreError>
    /** The task's newest snapshot, read through a pointer: as fast after a million versions as after one. */
    readonly latest: (taskId: string) => Effect.Effect<Option.Option<SnapshotRecord>, SnapshotCorrupted | StoreError>
    readonly get: (
      taskId: string,
      version: number
    ) => Effect.Effect<Option.Option<SnapshotRecord>, SnapshotCorrupted | StoreError>
    /** One page, newest first; a damaged snapshot in it fails the whole page (`get` still reads the others). */
    readonly list: (
      taskId: string,
      query: SnapshotQuery
    ) => Effect.Effect<SnapshotRecordPage, SnapshotCorrupted | StoreError>
    /**
     * The page `list` gives (same paging), each snapshot without its data but with the data's size, read from where
     * the store keeps it: a page of large snapshots costs what their other fields do. Unchecked (the checksum covers
     * the data, which is not read): `get` checks the snapshot it returns.
     */
    readonly listSummaries: (taskId: string, query: SnapshotQuery) => Effect.Effect<SnapshotSummaryPage, StoreError>
    /** Every checkpoint of the task that is still stored, newest first. */
    readonly checkpoints: (
      taskId: string
    ) => Effect.Effect<ReadonlyArray<SnapshotRecord>, SnapshotCorrupted | StoreError>
    /**
     * Removes old snapshots and returns how many it removed. The latest snapshot is never removed, so versions
     * keep growing from where they were and are never reused.
     */
    readonly prune: (taskId: string, options: SnapshotPruneOptions) => Effect.Effect<number, StoreError>
    /**
     * Copies one snapshot as version 1 of another task, recording where it came from. Writes nothing when the
     * source is missing or the target already has snapshots, or when the source is damaged (`SnapshotCorrupted`).
     */
    readonly fork: (from: SnapshotOrigin, toTaskId: string) => Effect.Effect<ForkResult, SnapshotCorrupted | StoreError>
  }
>()("waypoint/stores/SnapshotStore") {}
