/**
 * Group commit for the task store's hot writes (`create`, `claim`, `finish`, `heartbeat`): a lone call runs its
 * single-row statement; calls that queue meanwhile go as one statement over a JSON array read with
 * `jsonb_to_recordset`, so that statement has one text whatever the batch's size, on both drivers.
 */

import { Effect, type Scope } from "effect"
import type { StoreError } from "../../../errors.ts"
import { tasks } from "../../schema.ts"
import { makeBatcher, type Outcomes } from "../batcher.ts"
import type { PgUpdateSetSource, SelectedFieldsFlat } from "../drizzle.ts"
import { type SQL, sql } from "../drizzle.ts"
import type { TaskContext } from "./context.ts"

/**
 * The most writes of one kind that one statement carries; more wait for the next. A fan-out creates as many children
 * at once (`createsAtOnce` in `runtime/internal/children.ts`): change both together.
 */
const maxBatchSize = 256

/**
 * The function that sends one item: alone, through `alone` (a single-row statement, cheaper for one row), or with
 * those that queued while a statement was in flight, through `many`.
 */
export const batched = <A, B, E>(
  alone: (item: A) => Effect.Effect<B, E | StoreError>,
  many: (batch: ReadonlyArray<A>) => Effect.Effect<Outcomes<B, E>, StoreError>
): Effect.Effect<(item: A) => Effect.Effect<B, E | StoreError>, never, Scope.Scope> =>
  makeBatcher({
    maxSize: maxBatchSize,
    execute: (batch) =>
      batch.length === 1 ? Effect.map(Effect.exit(alone(batch[0] as A)), (exit) => [exit]) : many(batch)
  })

/**
 * A JSON value as a batch row carries it: wrapped in a one-element array and taken out with `-> 0`, because
 * `jsonb_to_recordset` reads a JSON null as SQL NULL. `undefined` is left out, so it is stored as SQL NULL.
 */
export const wrapped = (value: unknown): ReadonlyArray<unknown> | undefined =>
  value === undefined ? undefined : [value]

/** A column of the batch's row `r`. */
export const r = (column: string): SQL => sql.raw(`r.${column}`)
/** A JSON column of the batch's row `r` (see `wrapped`). */
export const json = (column: string): SQL => sql`${r(column)} -> 0`
/** The batch's rows, `r`, from the JSON array in the placeholder `rows`, with their `columns` and types. */
export const rowsOf = (columns: string) =>
  sql`jsonb_to_recordset(${sql.placeholder("rows")}::text::jsonb) as r(${sql.raw(columns)})`

/**
 * Prepares the batched UPDATE of `operation`: its rows, read from the placeholder `rows` with `columns`, as a CTE `r`
 * joined to the tasks they name (which `where` selects by `id = any(array(select r.id from r))`).
 */
export const prepareBatchUpdate = (
  { db, driver }: TaskContext,
  operation: string,
  columns: string,
  update: {
    readonly set: PgUpdateSetSource<typeof tasks>
    readonly where: SQL | undefined
    readonly returning: SelectedFieldsFlat
  }
) => {
  const rows = db.$with("r", { id: sql<string>`id`.as("id") }).as(sql`select * from ${rowsOf(columns)}`)
  return driver.prepare(
    operation,
    db.with(rows).update(tasks).set(update.set).from(rows).where(update.where).returning(update.returning)
  )
}
