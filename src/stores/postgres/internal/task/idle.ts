/**
 * Writes to a task no attempt runs: `wake` (a suspended task due now), `suspendIdle` and `cancelIdle` (a pending or
 * suspended one), and `recoverOwned`, which hands back the tasks a restarted runtime held, pending. Each is one
 * UPDATE; those that make a task runnable wake workers.
 */

import { Clock, Effect } from "effect"
import type { SuspendReason } from "../../../TaskRecord.ts"
import { notifyWork } from "../../Notifications.ts"
import { tasks } from "../../schema.ts"
import { and, eq, inArray, sql } from "../drizzle.ts"
import { prepareUpdate, type TaskContext } from "./context.ts"
import { released } from "./fencing.ts"
import { ended } from "./finish.ts"
import { firstRecord, jsonb, jsonText, param, returnedNamed, returnedWaking, toRecord } from "./rows.ts"

const isIdle = and(eq(tasks.id, sql.placeholder("id")), inArray(tasks.status, ["pending", "suspended"]))

export const makeIdle = (context: TaskContext) => {
  const { inStatement, notified } = context
  const wakeStatement = prepareUpdate(context, "wake", {
    set: { runAt: param("now"), updatedAt: param("now") },
    where: and(eq(tasks.id, sql.placeholder("id")), eq(tasks.status, "suspended")),
    returning: { notified: (inStatement ? notifyWork(tasks.runAt) : sql<null>`null`).as("notified") }
  })

  const suspendIdleStatement = prepareUpdate(context, "suspendIdle", {
    // a pause asked of the task while it ran is done, or replaced by this suspension
    set: {
      status: "suspended",
      suspendReason: jsonb("reason"),
      runAt: null,
      pauseRequested: false,
      updatedAt: param("now")
    },
    where: isIdle,
    returning: returnedNamed
  })

  const cancelIdleStatement = prepareUpdate(context, "cancelIdle", {
    set: { ...released, ...ended, status: "cancelled" },
    where: isIdle,
    returning: returnedNamed
  })

  const recoverOwnedStatement = prepareUpdate(context, "recoverOwned", {
    set: { ...released, status: "pending" },
    where: and(eq(tasks.status, "running"), eq(tasks.leaseOwner, sql.placeholder("owner"))),
    returning: returnedWaking(inStatement)
  })

  const wake = Effect.fn("PgTaskStore.wake")(function* (id: string) {
    const now = yield* Clock.currentTimeMillis
    yield* notified(yield* wakeStatement({ id, now }), now)
  })

  const suspendIdle = Effect.fn("PgTaskStore.suspendIdle")(function* (id: string, reason: SuspendReason) {
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.flatMap(
      suspendIdleStatement({ id, reason: jsonText(reason), now }),
      firstRecord("suspendIdle")
    )
  })

  const cancelIdle = Effect.fn("PgTaskStore.cancelIdle")(function* (id: string) {
    const now = yield* Clock.currentTimeMillis
    return yield* Effect.flatMap(cancelIdleStatement({ id, now }), firstRecord("cancelIdle"))
  })

  const recoverOwned = Effect.fn("PgTaskStore.recoverOwned")(function* (owner: string) {
    const now = yield* Clock.currentTimeMillis
    const rows = yield* recoverOwnedStatement({ owner, now })
    yield* notified(rows, undefined)
    return yield* Effect.forEach(rows, toRecord("recoverOwned"))
  })

  return { wake, suspendIdle, cancelIdle, recoverOwned }
}
