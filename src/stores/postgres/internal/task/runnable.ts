/**
 * Which tasks are runnable, written once for every statement that asks (`claim` alone, in a batch and under
 * `maxParallel`, and `listRunnable`), and how workers find them and wait for more (`awaitWork`).
 */

import { Clock, Effect, Option } from "effect"
import type { StoreError } from "../../../errors.ts"
import type { RunnableQuery } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import type { AnyPgColumn } from "../drizzle.ts"
import { and, type SQL, type SQLWrapper, sql } from "../drizzle.ts"
import type { TaskContext } from "./context.ts"
import { returnedNamed, toRecord } from "./rows.ts"

/**
 * Whether the task in `task`'s columns (the table, or an alias of it) is runnable at `now`: `pending` without a due
 * time or past it; `suspended` past its due time (without one, it waits for a wake: a signal, a resume); `running`
 * under a lease that expired (its worker died). Statuses are written as literals, so the planner sees them.
 */
export const isRunnable = (
  task: { readonly status: AnyPgColumn; readonly runAt: AnyPgColumn; readonly leaseExpiresAt: AnyPgColumn },
  now: SQLWrapper | number
): SQL =>
  sql`((${task.status} = 'pending' and (${task.runAt} is null or ${task.runAt} <= ${now}))
    or (${task.status} = 'suspended' and ${task.runAt} <= ${now})
    or (${task.status} = 'running' and ${task.leaseExpiresAt} < ${now}))`

/**
 * Whether the task's name is one of the placeholder `names`, given as a JSON array, not a text[] parameter: postgres.js
 * writes an array only after fetching the server's array types (`fetch_types`), which the stores turn off (see
 * PostgresDb.ts).
 */
export const isNamed = (name: AnyPgColumn): SQL =>
  sql`${name} = any(array(select jsonb_array_elements_text(${sql.placeholder("names")}::text::jsonb)))`

/** When a runnable task became due: its lease's expiry if it runs, else its due time, else its creation. */
const dueAt = sql`case when ${tasks.status} = 'running' then ${tasks.leaseExpiresAt} else coalesce(${tasks.runAt}, ${tasks.createdAt}) end`

export const makeRunnable = ({ db, driver, notifications }: TaskContext) => {
  const runnableStatement = driver.prepare(
    "listRunnable",
    db
      .select(returnedNamed)
      .from(tasks)
      .where(and(isNamed(tasks.name), isRunnable(tasks, sql.placeholder("now"))))
      .orderBy(dueAt, tasks.createdAt, tasks.id)
      .limit(sql.placeholder("limit"))
  )

  const listRunnable = Effect.fnUntraced(function* (query: RunnableQuery) {
    if (query.names.length === 0 || query.limit <= 0) return []
    const now = yield* Clock.currentTimeMillis
    const rows = yield* runnableStatement({ names: JSON.stringify(query.names), limit: query.limit, now })
    return yield* Effect.forEach(rows, toRecord("listRunnable"))
  })

  // Without `Notifications`, workers wait out their poll interval.
  const awaitWork: (maxWaitMillis: number) => Effect.Effect<void, StoreError> = Option.match(notifications, {
    onNone: () => (maxWaitMillis: number) => Effect.sleep(Math.max(0, maxWaitMillis)),
    onSome: (notifications) => notifications.awaitWork
  })

  return { listRunnable, awaitWork }
}
