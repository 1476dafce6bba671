/**
 * What each operation of the PostgreSQL task store is built from: the `Db` and `Driver`, and how its writes wake
 * workers. On PGlite a write notifies from its own RETURNING list (`inStatement`); on a server, from a statement of
 * its own once it has committed (see `Notifications`).
 */

import { Effect, Option } from "effect"
import { type Database, Db } from "../../Db.ts"
import { Driver, type Rows } from "../../Driver.ts"
import { Notifications } from "../../Notifications.ts"
import { tasks } from "../../schema.ts"
import type { PgUpdateSetSource, SelectedFieldsFlat, SQL } from "../drizzle.ts"

export interface TaskContext {
  readonly db: Database
  readonly driver: Driver["Service"]
  /** Absent when a `Db` comes without it (built by hand): workers then wait out their poll interval. */
  readonly notifications: Option.Option<Notifications["Service"]>
  /** Whether a write's own statement notifies (PGlite), rather than a statement sent after it (a server). */
  readonly inStatement: boolean
  /** After a single-row write that changed `rows`: the wake-up for a task runnable at `runAt`, when sent apart. */
  readonly notified: (rows: Rows, runAt: number | undefined) => Effect.Effect<void>
  /** After a batch, when sent apart: one wake-up per due time among the rows `wakes` holds for (more wake no one). */
  readonly notifiedPerDueTime: (rows: Rows, wakes: (row: Record<string, unknown>) => boolean) => Effect.Effect<void>
}

export const makeTaskContext: Effect.Effect<TaskContext, never, Db | Driver> = Effect.gen(function* () {
  const notifications = yield* Effect.serviceOption(Notifications)
  const notifyAfter = Option.flatMap(notifications, (n) => n.notifyAfter)
  return {
    db: yield* Db,
    driver: yield* Driver,
    notifications,
    inStatement: Option.isNone(notifyAfter),
    notified: (rows, runAt) =>
      rows.length === 0 || Option.isNone(notifyAfter) ? Effect.void : notifyAfter.value(runAt),
    notifiedPerDueTime: (rows, wakes) => {
      if (Option.isNone(notifyAfter)) return Effect.void
      const dueTimes = new Set<number | undefined>()
      for (const row of rows) if (wakes(row)) dueTimes.add(typeof row.runAt === "number" ? row.runAt : undefined)
      return Effect.forEach(dueTimes, notifyAfter.value, { discard: true })
    }
  }
})

/** Prepares `operation`'s single-row UPDATE of the tasks `where` selects. */
export const prepareUpdate = (
  { db, driver }: TaskContext,
  operation: string,
  update: {
    readonly set: PgUpdateSetSource<typeof tasks>
    readonly where: SQL | undefined
    readonly returning: SelectedFieldsFlat
  }
) => driver.prepare(operation, db.update(tasks).set(update.set).where(update.where).returning(update.returning))
