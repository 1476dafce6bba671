/**
 * What the snapshot store's statements return, and how a returned row becomes a snapshot: checked against its
 * checksum when read, taken as written when a write returns it, or summarized without its data.
 */

import { Effect, Schema, Struct } from "effect"
import { StoreError } from "../../errors.ts"
import {
  canonicalJson,
  type SnapshotCorrupted,
  type SnapshotRecord,
  type SnapshotSummary,
  utf8Length,
  verifySnapshot
} from "../../SnapshotStore.ts"
import { snapshots } from "../schema.ts"
import { getTableColumns, sql } from "./drizzle.ts"

/** Every column, jsonb read as text: drizzle's decoder would read the JSON string `"123"` back as the number 123. */
export const returned = { ...getTableColumns(snapshots), data: sql<string>`${snapshots.data}::text` }

/**
 * A summary's columns: all but the data and its checksum. A row written before migration 0007 has no size: its data is
 * read, as text, to measure it (`legacyData`, NULL on every other row).
 */
export const summarized = {
  ...Struct.omit(getTableColumns(snapshots), ["data", "checksum"]),
  legacyData: sql<string | null>`case when ${snapshots.dataSizeBytes} is null then ${snapshots.data}::text end`
}

// SQL NULL marks the optional fields a snapshot does not have.
const optionalFields = {
  dataVersion: Schema.NullOr(Schema.Number),
  originTaskId: Schema.NullOr(Schema.String),
  originVersion: Schema.NullOr(Schema.Number)
}
const SnapshotRow = Schema.Struct({
  id: Schema.String,
  taskId: Schema.String,
  version: Schema.Number,
  data: Schema.fromJsonString(Schema.Json),
  checkpoint: Schema.Boolean,
  createdAt: Schema.Number,
  ...optionalFields,
  checksum: Schema.NullOr(Schema.String)
})
const SummaryRow = SnapshotRow.mapFields((fields) => ({
  ...Struct.omit(fields, ["data", "checksum"]),
  dataSizeBytes: Schema.NullOr(Schema.Number),
  legacyData: Schema.NullOr(Schema.fromJsonString(Schema.Json))
}))

/** A row's optional fields as a record has them (absent rather than NULL). */
const present = (row: {
  readonly dataVersion: number | null
  readonly originTaskId: string | null
  readonly originVersion: number | null
}) => ({
  ...(row.dataVersion === null ? {} : { dataVersion: row.dataVersion }),
  ...(row.originTaskId === null || row.originVersion === null
    ? {}
    : { origin: { taskId: row.originTaskId, version: row.originVersion } })
})

const decodeWith =
  <A>(schema: Schema.Decoder<A>) =>
  (operation: string) => {
    const decode = Schema.decodeUnknownEffect(schema)
    return (row: unknown) => Effect.mapError(decode(row), (cause) => new StoreError({ operation, cause }))
  }
const decodeRow = decodeWith(SnapshotRow)
const decodeSummary = decodeWith(SummaryRow)

/** A row as the record it holds and the checksum stored with it (`null` on a row older than migration 0006). */
const toStored = (operation: string) => (row: unknown) =>
  Effect.map(decodeRow(operation)(row), ({ dataVersion, originTaskId, originVersion, checksum, ...record }) => ({
    record: { ...record, ...present({ dataVersion, originTaskId, originVersion }) } satisfies SnapshotRecord,
    checksum
  }))

/** A row as a snapshot, unchecked: for the rows a write returns, whose checksum it has just computed. */
export const toWritten =
  (operation: string) =>
  (row: unknown): Effect.Effect<SnapshotRecord, StoreError> =>
    Effect.map(toStored(operation)(row), ({ record }) => record)

/** A row as a snapshot, once its checksum matches. A row written before migration 0006 has none, and is not checked. */
export const toRecord =
  (operation: string) =>
  (row: unknown): Effect.Effect<SnapshotRecord, SnapshotCorrupted | StoreError> =>
    Effect.flatMap(toStored(operation)(row), ({ record, checksum }) =>
      checksum === null
        ? Effect.succeed(record)
        : Effect.as(verifySnapshot(record, canonicalJson(record.data), checksum), record)
    )

export const firstRecord = (operation: string) => (rows: ReadonlyArray<unknown>) =>
  rows.length === 0 ? Effect.succeedNone : Effect.asSome(toRecord(operation)(rows[0]))

/** A `summarized` row as a summary; a legacy row's size is its data's JSON text's, as a newer row records it. */
export const toSummary =
  (operation: string) =>
  (row: unknown): Effect.Effect<SnapshotSummary, StoreError> =>
    Effect.map(
      decodeSummary(operation)(row),
      ({ dataVersion, originTaskId, originVersion, dataSizeBytes, legacyData, ...summary }) => ({
        ...summary,
        ...present({ dataVersion, originTaskId, originVersion }),
        dataSizeBytes: dataSizeBytes ?? utf8Length(JSON.stringify(legacyData))
      })
    )
