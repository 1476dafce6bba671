/**
 * `finish` with `AwaitingChildren`: a parent's wait for children of its own, as one transaction. The children it waits
 * for carry the wait's generation (`awaited_gen`): a join marks those it creates as it creates them (`NewTask.awaited`),
 * and the wait locks them, marks any other, and unmarks one marked that it does not name. It then writes the parent,
 * fenced by its token: `suspended` (`WaitingForChildren`, `waiting_for` counting the children it waits for), or
 * `pending` when the wait is over before it starts. Each marked child's end counts itself against the parent in its
 * own transaction (the trigger of migration 0011), and the last one, or the first that ends the wait as its mode says,
 * makes the parent runnable.
 */

import { Effect, Option, Schedule } from "effect"
import { LeaseLost, type StoreError } from "../../../errors.ts"
import { type ChildWaitMode, endsWaitAtOnce, type TaskRecord, type TaskStatus } from "../../../TaskRecord.ts"
import { notifyWork } from "../../Notifications.ts"
import { tasks } from "../../schema.ts"
import { attempt, codesOf } from "../attempt.ts"
import { alias, and, eq, inArray, notInArray, or, type SQL, sql, TransactionRollbackError } from "../drizzle.ts"
import type { TaskContext } from "./context.ts"
import { anyAsked, finishedUnlessAsked } from "./requests.ts"
import { firstRecord, returned } from "./rows.ts"

const terminal: ReadonlyArray<TaskStatus> = ["completed", "failed", "cancelled"]

/**
 * How long the transaction waits for a row lock before it gives up and runs again. A child's end holds its row only
 * for its own short transaction; a longer wait is a cycle (a batch of ends holding a child it marks next, and waiting
 * for one it holds), which this transaction breaks, well before the server's deadlock check (1 s by default) would
 * pick a victim among the others.
 */
const lockTimeout = "200ms"

// lock_not_available (the lock timeout above), deadlock_detected, serialization_failure: the transaction was rolled
// back whole, so it runs again.
const conflictCodes: ReadonlySet<unknown> = new Set(["55P03", "40P01", "40001"])
const isConflict = (error: StoreError) => codesOf(error.cause).some((code) => conflictCodes.has(code))
const onConflict = {
  schedule: Schedule.exponential("10 millis").pipe(Schedule.jittered, Schedule.upTo({ duration: "30 seconds" })),
  while: isConflict
}

// The children, as the transaction reads and locks them.
const child = alias(tasks, "child")

/** Whether the task in `task`'s columns waits in its queue behind its siblings. */
const isQueued = (task: typeof child) =>
  sql`(${task.status} = 'suspended' and ${task.suspendReason}->>'_tag' = 'QueuedBehindSiblings') is true`

export const makeAwaitChildren = ({ db, inStatement, notified }: TaskContext) =>
  Effect.fnUntraced(function* (
    id: string,
    token: number,
    children: ReadonlyArray<string>,
    mode: ChildWaitMode,
    total: number,
    now: number,
    runAt: number | undefined
  ) {
    // the ids go as a JSON array (see runnable.ts), and only children of this parent count; `in (select ...)` is a
    // hashed semi-join, where `= any(array(...))` compared every child with every id (10 s for 10 000 children)
    const isAwaited = and(
      eq(child.parentId, id),
      sql`${child.id} in (select jsonb_array_elements_text(${JSON.stringify(children)}::text::jsonb))`
    )
    const isHeld = and(eq(tasks.id, id), eq(tasks.status, "running"), eq(tasks.fencingToken, token))
    const reason = JSON.stringify({ _tag: "WaitingForChildren", mode, total })
    const rows = yield* attempt("finish", () =>
      db.transaction(async (tx) => {
        // The parent's row is locked first: a create of a child marked for this wait (create.ts) commits before the
        // children are read below, or reads this wait's generation once it has committed, and marks its child for the
        // next. Only a wait and such a create take this lock; a child's end does not wait for it.
        const held = await tx
          .select({ waitGen: tasks.waitGen, lockTimeout: sql`set_config('lock_timeout', ${lockTimeout}, true)` })
          .from(tasks)
          .where(isHeld)
          .for("no key update")
        const gen = (held[0]?.waitGen ?? Number.NaN) + 1
        if (Number.isNaN(gen)) return []
        // One statement locks the children, marks them, and counts them. Locking a child waits for a transaction
        // writing its end, which is then seen ended and left out; a child locked here ends only after this commits, and
        // its end then counts. Queued children last: a sibling's end holding its row may wait to release one of them
        // (see the trigger). Also locked: a child of this parent marked with this wait's generation at its create
        // (`NewTask.awaited`) that this wait does not name, which is unmarked. Only the rows whose mark changes are
        // written: a bounded join's children, marked at their create, are only locked.
        const named = tx
          .$with("named", { id: sql`id` })
          .as(sql`select jsonb_array_elements_text(${JSON.stringify(children)}::text::jsonb) as id`)
        const isNamed = sql`${child.id} in (select id from named)`
        const locked = tx.$with("locked").as(
          tx
            // named explicitly: the UPDATE below refers to these columns in raw SQL
            .select({
              id: sql<string>`${child.id}`.as("id"),
              named: sql<boolean>`${isNamed}`.as("named"),
              awaitedGen: sql<number | null>`${child.awaitedGen}`.as("awaited_gen")
            })
            .from(child)
            .where(
              and(
                eq(child.parentId, id),
                notInArray(child.status, [...terminal]),
                or(isNamed, eq(child.awaitedGen, gen))
              )
            )
            .orderBy(isQueued(child), child.id)
            .for("update")
        )
        // The rows it updates are the ones `locked` holds: the UPDATE finds each one's newest version under that lock.
        const marked = tx.$with("marked", { id: sql`id` }).as(
          sql`update ${tasks} set awaited_gen = case when locked.named then ${gen}::int end
            from locked
            where ${tasks.id} = locked.id
              and (case when locked.named then locked.awaited_gen is distinct from ${gen}::int else true end)
            returning ${tasks.id}`
        )
        const [counted] = await tx
          .with(named, locked, marked)
          .select({ named: sql<number>`(count(*) filter (where ${locked.named}))::int` })
          .from(locked)
        const waitingFor = counted?.named ?? 0
        // A new statement, so it sees the children whose end it waited for above.
        const isOver =
          waitingFor === 0 ||
          (endsWaitAtOnce[mode].length > 0 &&
            (
              await tx
                .select({ id: child.id })
                .from(child)
                .where(and(isAwaited, inArray(child.status, [...endsWaitAtOnce[mode]])))
                .limit(1)
            ).length > 0)
        // The parent last: a child's end never waits for it while it runs, and it is written once its children are.
        const parent = await tx
          .update(tasks)
          .set({
            leaseOwner: null,
            leaseExpiresAt: null,
            updatedAt: now,
            ...finishedUnlessAsked(sql`true`, sql`${now}::bigint`, {
              status: isOver ? sql`'pending'` : sql`'suspended'`,
              runAt: isOver ? sql`null::bigint` : sql`${runAt ?? null}::bigint`,
              suspendReason: isOver ? sql`null` : sql`${reason}::jsonb`,
              attempt: sql`${tasks.attempt}`,
              error: sql`${tasks.error}`,
              finishedAt: sql`${tasks.finishedAt}`
            }),
            waitGen: gen,
            waitingFor: sql`case when ${anyAsked} then null else ${isOver ? null : waitingFor}::int end`
          })
          .where(isHeld)
          .returning(
            inStatement
              ? { ...returned, notified: notifyWork(tasks.runAt, sql`${tasks.status} = 'pending'`) as SQL<null> }
              : returned
          )
        // no longer held (claimed again after its lease ran out): the marks must not stay, as the next wait of this
        // parent takes the same generation
        if (parent.length === 0) tx.rollback()
        return parent
      })
    ).pipe(
      Effect.retry(onConflict),
      Effect.catchIf(
        (error) => error.cause instanceof TransactionRollbackError,
        () => Effect.succeed([])
      )
    )
    yield* notified(
      rows.filter((row) => row.status === "pending"),
      undefined
    )
    const finished: Option.Option<TaskRecord> = yield* firstRecord("finish")(rows)
    if (Option.isNone(finished)) return yield* new LeaseLost({ taskId: id, token })
    return finished.value
  })
