/**
 * Reads of tasks by id (`get`) and by filter, a page at a time in (createdAt, id) order (`list`). A cursor names the
 * last task of the previous page, so a page never repeats or skips a task that existed when it was read.
 */
import { and, eq, sql } from "drizzle-orm"
import { Effect } from "effect"
import { InvalidCursor } from "../../../errors.ts"
import type { TaskRecord } from "../../../TaskRecord.ts"
import type { TaskPage, TaskQuery } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import { attempt } from "../attempt.ts"
import type { TaskContext } from "./context.ts"
import { firstRecord, returned, returnedNamed, toRecord } from "./rows.ts"

const cursorOf = (task: TaskRecord): string => `${task.createdAt}:${task.id}`

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

  // Through drizzle's query builder: its filters vary from call to call.
  const list = Effect.fn("PgTaskStore.list")(function* (query: TaskQuery) {
    const limit = Math.max(1, Math.min(query.limit ?? 100, 1000))
    const after = query.cursor === undefined ? undefined : yield* parseCursor(query.cursor)
    const rows = yield* attempt("list", () =>
      db
        .select(returned)
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
        .limit(limit + 1)
    )
    const items = yield* Effect.forEach(rows.slice(0, limit), toRecord("list"))
    const last = items.at(-1)
    return {
      items,
      nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : undefined
    } satisfies TaskPage
  })

  return { get, list }
}
