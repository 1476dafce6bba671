/**
 * `finish`: the running attempt that holds its token ends with one transition, written by one UPDATE fenced by that
 * token (`fencing.ts`). Concurrent finishes go as one statement (`batch.ts`), whose rows each say their new status and
 * what it sets; a wait for children is a transaction of its own (`awaitChildren.ts`). A requeue, or a suspension with
 * a due time, wakes workers; one that another process's cancel or pause turned into an ending or a pause does not.
 * A child's end is counted by its parent in the same transaction, by the trigger of migration 0009 (0011).
 */

import { Clock, Effect, Exit, Option } from "effect"
import { LeaseLost, type StoreError } from "../../../errors.ts"
import type { TaskRecord, TaskStatus } from "../../../TaskRecord.ts"
import { type Transition, waitTotal } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import type { PgUpdateSetSource } from "../drizzle.ts"
import { sql } from "../drizzle.ts"
import { makeAwaitChildren } from "./awaitChildren.ts"
import { batched, json, prepareBatchUpdate, r, wrapped } from "./batch.ts"
import { prepareUpdate, type TaskContext } from "./context.ts"
import { isHeld, isHeldByRow, released } from "./fencing.ts"
import { finishedUnlessAsked } from "./requests.ts"
import { firstRecord, jsonb, jsonText, param, returnedNamed, returnedWaking, toRecord } from "./rows.ts"

/** A transition one UPDATE writes: all but `AwaitingChildren`, which locks the children first. */
type PlainTransition = Exclude<Transition, { readonly _tag: "AwaitingChildren" }>

/** A `finish` waiting for its batch. */
interface Ending {
  readonly id: string
  readonly token: number
  readonly transition: PlainTransition
  readonly now: number
}

/** What an ending (completed, failed, cancelled) writes besides its status, at the placeholder `now`. */
export const ended = { runAt: null, suspendReason: null, finishedAt: param("now") }

/** What a transition writes in a batch row: its new status and the values that status sets. */
interface Written {
  readonly status: TaskStatus
  readonly output?: unknown
  readonly error?: unknown
  readonly reason?: unknown
  readonly run_at?: number | undefined
  readonly attempt?: number
  readonly finished_at?: number
}

const written = (transition: PlainTransition, now: number): Written => {
  switch (transition._tag) {
    case "Completed":
      return { status: "completed", output: transition.output, finished_at: now }
    case "Failed":
      return { status: "failed", error: transition.error, finished_at: now }
    case "Cancelled":
      return { status: "cancelled", finished_at: now }
    case "Suspended":
      return { status: "suspended", reason: transition.reason, run_at: transition.runAt }
    case "Requeued":
      return { status: "pending", attempt: transition.attempt, run_at: transition.runAt, error: transition.error }
  }
}

/** A transition as a row of the batched UPDATE, `i` its place in the batch (absent fields read as SQL NULL). */
const transitionRow = ({ id, token, transition, now }: Ending, i: number) => {
  const { output, error, reason, ...values } = written(transition, now)
  return { i, id, token, now, ...values, output: wrapped(output), error: wrapped(error), reason: wrapped(reason) }
}

export const makeFinish = (context: TaskContext) =>
  Effect.gen(function* () {
    const { inStatement, notified, notifiedPerDueTime } = context
    // An ended attempt leaves no pause request behind: it was applied (below), or is moot.
    const fenced = (set: PgUpdateSetSource<typeof tasks>, returning = returnedNamed) =>
      prepareUpdate(context, "finish", {
        set: { ...released, pauseRequested: false, ...set },
        where: isHeld,
        returning
      })
    const completeStatement = fenced({ ...ended, status: "completed", output: jsonb("output") })
    const failStatement = fenced({ ...ended, status: "failed", error: jsonb("error") })
    const cancelStatement = fenced({ ...ended, status: "cancelled" })
    // A suspension without runAt waits for a wake, which notifies then.
    const suspendStatement = fenced(
      finishedUnlessAsked(sql`true`, sql`${param("now")}::bigint`, {
        status: sql`'suspended'`,
        runAt: sql`${param("runAt")}::bigint`,
        suspendReason: jsonb("reason"),
        attempt: sql`${tasks.attempt}`,
        error: sql`${tasks.error}`,
        finishedAt: sql`${tasks.finishedAt}`
      }),
      returnedWaking(inStatement, sql`${tasks.runAt} is not null`)
    )
    // A requeue recorded cancelled or paused instead wakes nobody.
    const requeueStatement = fenced(
      finishedUnlessAsked(sql`true`, sql`${param("now")}::bigint`, {
        status: sql`'pending'`,
        runAt: sql`${param("runAt")}::bigint`,
        suspendReason: sql`null`,
        attempt: sql`${param("attempt")}::int`,
        // a requeue without an error keeps the previous attempt's
        error: sql`coalesce(${jsonb("error")}, ${tasks.error})`,
        finishedAt: sql`${tasks.finishedAt}`
      }),
      returnedWaking(inStatement, sql`${tasks.status} = 'pending'`)
    )

    // Each row says its new status and what it sets (`written`); a column its transition leaves alone keeps its value.
    // A stale token matches no row. Two rows for one task and token update it once, and RETURNING names the row that
    // did (`i`), so the other gets `LeaseLost`.
    const finishBatchStatement = prepareBatchUpdate(
      context,
      "finish",
      "i int, id text, token bigint, status text, now bigint, output jsonb, error jsonb, reason jsonb, run_at bigint, attempt int, finished_at bigint",
      {
        set: {
          leaseOwner: null,
          leaseExpiresAt: null,
          updatedAt: r("now"),
          output: sql`case when r.status = 'completed' then ${json("output")} else ${tasks.output} end`,
          ...finishedUnlessAsked(sql`r.status in ('pending', 'suspended')`, r("now"), {
            status: r("status"),
            runAt: r("run_at"),
            suspendReason: json("reason"),
            attempt: sql`coalesce(r.attempt, ${tasks.attempt})`,
            // a requeue without an error keeps the previous attempt's
            error: sql`case when r.status = 'failed' then ${json("error")} else coalesce(${json("error")}, ${tasks.error}) end`,
            finishedAt: sql`coalesce(r.finished_at, ${tasks.finishedAt})`
          })
        },
        where: isHeldByRow,
        returning: {
          ...returnedWaking(
            inStatement,
            sql`${tasks.status} = 'pending' or (${tasks.status} = 'suspended' and ${tasks.runAt} is not null)`
          ),
          i: r("i").as("i")
        }
      }
    )

    const runTransition = (id: string, token: number, transition: PlainTransition, now: number) => {
      const held = { id, token, now }
      switch (transition._tag) {
        case "Completed":
          return completeStatement({ ...held, output: jsonText(transition.output) })
        case "Failed":
          return failStatement({ ...held, error: jsonText(transition.error) })
        case "Cancelled":
          return cancelStatement(held)
        case "Suspended":
          return suspendStatement({ ...held, reason: jsonText(transition.reason), runAt: transition.runAt ?? null })
        case "Requeued":
          return requeueStatement({
            ...held,
            attempt: transition.attempt,
            runAt: transition.runAt ?? null,
            error: jsonText(transition.error)
          })
      }
    }

    const finishAlone = Effect.fnUntraced(function* ({ id, token, transition, now }: Ending) {
      const rows = yield* runTransition(id, token, transition, now)
      if (transition._tag === "Requeued" || (transition._tag === "Suspended" && transition.runAt !== undefined)) {
        yield* notified(
          rows.filter((row) => row.status === "pending" || row.runAt !== null),
          transition.runAt
        )
      }
      const finished = yield* firstRecord("finish")(rows)
      if (Option.isNone(finished)) return yield* new LeaseLost({ taskId: id, token })
      return finished.value
    })

    const finishBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Ending>) {
      const rows = yield* finishBatchStatement({ rows: JSON.stringify(batch.map(transitionRow)) })
      yield* notifiedPerDueTime(
        rows,
        (row) => row.status === "pending" || (row.status === "suspended" && row.runAt !== null)
      )
      const outcomes: Array<Exit.Exit<TaskRecord, StoreError | LeaseLost> | undefined> = batch.map(() => undefined)
      // the row's `i` is no field of a record: decoding leaves it out
      for (const row of rows) {
        const i = row.i
        if (typeof i === "number") outcomes[i] = toRecord("finish")(row)
      }
      return batch.map(
        (ending, i) => outcomes[i] ?? Exit.fail(new LeaseLost({ taskId: ending.id, token: ending.token }))
      )
    })

    const finishBatched = yield* batched(finishAlone, finishBatch)
    const awaitChildren = makeAwaitChildren(context)
    return (id: string, token: number, transition: Transition) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        transition._tag === "AwaitingChildren"
          ? awaitChildren(id, token, transition.children, transition.mode, waitTotal(transition), now, transition.runAt)
          : finishBatched({ id, token, transition, now })
      )
  })
