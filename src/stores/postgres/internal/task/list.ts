/**
 * Reads of tasks: by id (`get`), by filter a page at a time in (createdAt, id) order, whole (`list`) or without
 * input and output (`listSummaries`), and a parent's children all at once, in no order (`children`, `childSummaries`).
 * A cursor names the last task of the previous page, so pages never repeat a task.
 */

import { Effect } from "effect"
import { InvalidCursor, type StoreError } from "../../../errors.ts"
import type { TaskPage, TaskQuery, TaskSummaryPage } from "../../../TaskStore.ts"
import type { Database } from "../../Db.ts"
import { tasks } from "../../schema.ts"
import { attempt } from "../attempt.ts"
import { and, eq, sql } from "../drizzle.ts"
import type { TaskContext } from "./context.ts"
import {
  firstRecord,
  returned,
  returnedNamed,
  returnedSummary,
  returnedSummaryNamed,
  toRecord,
  toSummary
} from "./rows.ts"

const cursorOf = (task: { readonly createdAt: number; readonly id: string }): string => `${task.createdAt}:${task.id}`

// At most 15 digits: a time in milliseconds, and always within a bigint.
const parseCursor = (cursor: string) => {
  const match = /^(\d{1,15}):(.*)$/s.exec(cursor)
  return match === null
    ? Effect.fail(new InvalidCursor({ cursor }))
    : Effect.succeed({ createdAt: Number(match[1]), id: match[2] as string })
}

/**
 * The query of a page: through drizzle's query builder, as the filters vary from call to call. Not prepared: planned
 * with its values, a page of a parent's children is found by their parent and sorted, where a plan made for any parent
 * walked every task by creation to find the few of one (140 000 older tasks for a page of 1 000, seen).
 */
export const pageQuery = (
  db: Database,
  columns: typeof returnedSummary,
  query: TaskQuery,
  after: { readonly createdAt: number; readonly id: string } | undefined,
  limit: number
) =>
  db
    .select(columns)
    .from(tasks)
    .where(
      and(
        query.status === undefined ? undefined : eq(tasks.status, query.status),
        query.name === undefined ? undefined : eq(tasks.name, query.name),
        query.sessionId === undefined ? undefined : eq(tasks.sessionId, query.sessionId),
        query.parentId === undefined ? undefined : eq(tasks.parentId, query.parentId),
        after === undefined ? undefined : sql`(${tasks.createdAt}, ${tasks.id}) > (${after.createdAt}, ${after.id})`
      )
    )
    .orderBy(tasks.createdAt, tasks.id)
    .limit(limit)

export const makeList = ({ db, driver }: TaskContext) => {
  const byId = driver.prepare(
    "get",
    db
      .select(returnedNamed)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder("id")))
  )

  const get = (id: string) => Effect.flatMap(byId({ id }), firstRecord("get"))

  // A parent's children, which a fan-in reads back (thousands of rows): found through the index of a parent's children
  // by key, the one index a child's row is in beyond a top-level task's (each index costs each of a fan-out's writes).
  // Prepared, on the driver, whose rows are not mapped again by the query builder (in half the time).
  const childrenOf = (operation: string, columns: typeof returnedNamed) =>
    driver.prepare(
      operation,
      db
        .select(columns)
        .from(tasks)
        .where(eq(tasks.parentId, sql.placeholder("parentId")))
    )
  const allChildren = childrenOf("children", returnedNamed)
  const allChildSummaries = childrenOf("childSummaries", returnedSummaryNamed)

  const children = (parentId: string) =>
    Effect.flatMap(allChildren({ parentId }), (rows) => Effect.forEach(rows, toRecord("children")))

  const childSummaries = (parentId: string) =>
    Effect.flatMap(allChildSummaries({ parentId }), (rows) => Effect.forEach(rows, toSummary("childSummaries")))

  /** A page of the tasks `query` selects, read with `columns` (the summary's, or more) and decoded by `decode`. */
  const page = <A extends { readonly createdAt: number; readonly id: string }>(
    operation: string,
    query: TaskQuery,
    columns: typeof returnedSummary,
    decode: (row: Record<string, unknown>) => Effect.Effect<A, StoreError>
  ) =>
    Effect.gen(function* () {
      const limit = Math.max(1, Math.min(query.limit ?? 100, 1000))
      const after = query.cursor === undefined ? undefined : yield* parseCursor(query.cursor)
      const rows = yield* attempt(operation, () => pageQuery(db, columns, query, after, limit + 1))
      const items = yield* Effect.forEach(rows.slice(0, limit), decode)
      const last = items.at(-1)
      return { items, nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : undefined }
    })

  const list = Effect.fn("PgTaskStore.list")(function* (query: TaskQuery) {
    return (yield* page("list", query, returned, toRecord("list"))) satisfies TaskPage
  })

  // input and output are not selected: a page of tasks of 1 MiB each reads what their other fields weigh
  const listSummaries = Effect.fn("PgTaskStore.listSummaries")(function* (query: TaskQuery) {
    return (yield* page("listSummaries", query, returnedSummary, toSummary("listSummaries"))) satisfies TaskSummaryPage
  })

  return { get, list, listSummaries, children, childSummaries }
}
