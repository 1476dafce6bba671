/**
 * Requests made of a running task by a process that does not run it (`requestCancel`, `requestPause`, and
 * `withdrawPause`): each is a column of the task, kept until the task is paused or ends, and announced to listening
 * processes once stored. Its holder hears of it there or at its next heartbeat; a claim or a finish that meets one
 * applies it (`claim.ts`, `finish.ts`, reading the conditions below).
 */

import { Effect, Option, Stream } from "effect"
import type { Rows } from "../../Driver.ts"
import { tasks } from "../../schema.ts"
import type { PgUpdateSetSource } from "../drizzle.ts"
import { and, eq, inArray, type SQL, sql } from "../drizzle.ts"
import { prepareUpdate, type TaskContext } from "./context.ts"

/** A cancel was asked; it wins over a pause. */
export const cancelAsked = sql`${tasks.cancelRequested}`
/** A pause was asked, and no cancel. */
export const pauseAsked = sql`(${tasks.pauseRequested} and not ${tasks.cancelRequested})`
/** A cancel or a pause was asked. */
export const anyAsked = sql`(${tasks.cancelRequested} or ${tasks.pauseRequested})`
/** The suspension reason of a task paused from outside, as jsonb. */
export const pausedReason = sql`'{"_tag":"Paused"}'::jsonb`

/**
 * What a `Suspended`, `AwaitingChildren` or `Requeued` finish writes over what its transition sets (each an SQL
 * expression) when another process asked for the task's cancel (it ends `cancelled`, keeping its attempt and error) or
 * pause (it is paused, at the attempt a requeue gives it, with its error). `applies` says whether the transition is
 * one of those (a batch mixes them). The pause request is applied or moot once an attempt ends, so it is cleared.
 */
export const finishedUnlessAsked = (
  applies: SQL,
  now: SQL,
  transition: { status: SQL; runAt: SQL; suspendReason: SQL; attempt: SQL; error: SQL; finishedAt: SQL }
) => {
  const cancel = sql`(${cancelAsked} and ${applies})`
  const pause = sql`(${pauseAsked} and ${applies})`
  return {
    status: sql`case when ${cancel} then 'cancelled' when ${pause} then 'suspended' else ${transition.status} end`,
    runAt: sql`case when ${cancel} or ${pause} then null else ${transition.runAt} end`,
    suspendReason: sql`case when ${cancel} then null when ${pause} then ${pausedReason} else ${transition.suspendReason} end`,
    attempt: sql`case when ${cancel} then ${tasks.attempt} else ${transition.attempt} end`,
    error: sql`case when ${cancel} then ${tasks.error} else ${transition.error} end`,
    finishedAt: sql`case when ${cancel} then ${now} else ${transition.finishedAt} end`,
    pauseRequested: false
  }
}

export const makeRequests = (context: TaskContext) => {
  const { notifications } = context
  /** Sets `set` on the task of the placeholder `id` where `when` holds; returns its id if it did. */
  const request = (operation: string, set: PgUpdateSetSource<typeof tasks>, when: SQL | undefined) =>
    prepareUpdate(context, operation, {
      set,
      where: and(eq(tasks.id, sql.placeholder("id")), when),
      returning: { id: sql`${tasks.id}`.as("id") }
    })
  const requestCancelStatement = request("requestCancel", { cancelRequested: true }, eq(tasks.status, "running"))
  const requestPauseStatement = request("requestPause", { pauseRequested: true }, eq(tasks.status, "running"))
  const withdrawPauseStatement = request(
    "withdrawPause",
    { pauseRequested: false },
    and(inArray(tasks.status, ["running", "pending"]), eq(tasks.pauseRequested, true))
  )

  const announce = (id: string) =>
    Option.isSome(notifications) ? notifications.value.announceRequest(id) : Effect.void
  // A request is also sent to the processes listening (`requests`), once it is stored.
  const requested = (id: string, rows: Rows) =>
    rows.length === 0 ? Effect.succeed(false) : Effect.as(announce(id), true)

  return {
    requestCancel: (id: string) => Effect.flatMap(requestCancelStatement({ id }), (rows) => requested(id, rows)),
    requestPause: (id: string) => Effect.flatMap(requestPauseStatement({ id }), (rows) => requested(id, rows)),
    withdrawPause: (id: string) => Effect.map(withdrawPauseStatement({ id }), (rows) => rows.length > 0),
    requests: Option.match(notifications, {
      onNone: () => Stream.never,
      onSome: (notifications) => notifications.requests
    })
  }
}
