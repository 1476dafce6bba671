/**
 * Reads of tasks: by id (`get`), and by filter a page at a time in (createdAt, id) order, whole (`list`) or without
 * input and output (`listSummaries`). A cursor names the last task of the previous page, so pages never repeat a task.
 */

import { Effect } from "effect"
import { InvalidCursor, type StoreError } from "../../../errors.ts"
import type { TaskPage, TaskQuery, TaskSummaryPage } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import { attempt } from "../attempt.ts"
import { and, eq, sql } from "../drizzle.ts"
import type { TaskContext } from "./context.ts"
import { firstRecord, returned, returnedNamed, returnedSummary, toRecord, toSummary } from "./rows.ts"

const cursorOf = (task: { readonly createdAt: number; readonly id: string }): string => `${task.createdAt}:${task.id}`

// At most 15 digits: a time in milliseconds, and always within a bigint.
const parseCursor = (cursor: string) => {
  const match = /^(\d{1,15}):(.*)$/s.exec(cursor)
  return match === null
    ? Effect.fail(new InvalidCursor({ cursor }))
    : Effect.succeed({ createdAt: Number(match[1]), id: match[2] as string })
}

export const makeList = ({ db, driver }: TaskContext) => {
  const byId = driver.prepare(
    "get",
    db
      .select(returnedNamed)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder("id")))
  )

  const get = (id: string) => Effect.flatMap(byId({ id }), firstRecord("get"))

  // A parent's children, the list a fan-in reads back (thousands of rows): prepared, on the driver, whose rows are
  // not mapped again by the query builder (a page of 1 000 in half the time).
  const byParent = driver.prepare(
    "list",
    db
      .select(returnedNamed)
      .from(tasks)
      .where(
        and(
          eq(tasks.parentId, sql.placeholder("parentId")),
          sql`(${tasks.createdAt}, ${tasks.id}) > (${sql.placeholder("afterCreatedAt")}::bigint, ${sql.placeholder("afterId")}::text)`
        )
      )
      .orderBy(tasks.createdAt, tasks.id)
      .limit(sql.placeholder("limit"))
  )

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
      const isChildren =
        operation === "list" &&
        query.parentId !== undefined &&
        query.status === undefined &&
        query.name === undefined &&
        query.sessionId === undefined
      // through drizzle's query builder: the filters vary from call to call
      const rows = isChildren
        ? yield* byParent({
            parentId: query.parentId,
            afterCreatedAt: after?.createdAt ?? -1,
            afterId: after?.id ?? "",
            limit: limit + 1
          })
        : yield* attempt(operation, () =>
            db
              .select(columns)
              .from(tasks)
              .where(
                and(
                  query.status === undefined ? undefined : eq(tasks.status, query.status),
                  query.name === undefined ? undefined : eq(tasks.name, query.name),
                  query.sessionId === undefined ? undefined : eq(tasks.sessionId, query.sessionId),
                  query.parentId === undefined ? undefined : eq(tasks.parentId, query.parentId),
                  after === undefined
                    ? undefined
                    : sql`(${tasks.createdAt}, ${tasks.id}) > (${after.createdAt}, ${after.id})`
                )
              )
              .orderBy(tasks.createdAt, tasks.id)
              .limit(limit + 1)
          )
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

  return { get, list, listSummaries }
}
