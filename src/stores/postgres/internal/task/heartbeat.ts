/**
 * `heartbeat`: the lease of the attempt that holds its token extended, in one UPDATE fenced by that token
 * (`fencing.ts`), which also reads back whether another process asked for the task's cancel or pause. Concurrent
 * heartbeats go as one statement (`batch.ts`).
 */

import { Clock, Effect, Exit } from "effect"
import { CancelRequested, LeaseLost, PauseRequested } from "../../../errors.ts"
import { tasks } from "../../schema.ts"
import { sql } from "../drizzle.ts"
import { batched, prepareBatchUpdate, r } from "./batch.ts"
import { prepareUpdate, type TaskContext } from "./context.ts"
import { isHeld, isHeldByRow } from "./fencing.ts"
import { param } from "./rows.ts"

/** A `heartbeat` waiting for its batch. */
interface Renewal {
  readonly id: string
  readonly token: number
  readonly expiresAt: number
  readonly now: number
}

const leaseKey = (lease: { readonly id: string; readonly token: number }) => `${lease.token}:${lease.id}`

/** What another process asked of the task, as a heartbeat reads it back. */
const asked = {
  cancelRequested: sql`${tasks.cancelRequested}`.as("cancel_requested"),
  pauseRequested: sql`${tasks.pauseRequested}`.as("pause_requested")
}

export const makeHeartbeat = (context: TaskContext) =>
  Effect.gen(function* () {
    const heartbeatStatement = prepareUpdate(context, "heartbeat", {
      set: { leaseExpiresAt: param("expiresAt"), updatedAt: param("now") },
      where: isHeld,
      returning: asked
    })

    const heartbeatBatchStatement = prepareBatchUpdate(
      context,
      "heartbeat",
      "i int, id text, token bigint, expires_at bigint, now bigint",
      {
        set: { leaseExpiresAt: r("expires_at"), updatedAt: r("now") },
        where: isHeldByRow,
        returning: { i: r("i").as("i"), ...asked }
      }
    )

    const heartbeatAlone = Effect.fnUntraced(function* ({ id, token, expiresAt, now }: Renewal) {
      const rows = yield* heartbeatStatement({ id, token, expiresAt, now })
      if (rows.length === 0) return yield* new LeaseLost({ taskId: id, token })
      if (rows[0]?.cancel_requested === true) return yield* new CancelRequested({ taskId: id })
      if (rows[0]?.pause_requested === true) return yield* new PauseRequested({ taskId: id })
    })

    // Renewals of one task and token go as one row (the last asked wins), so that each of them succeeds.
    const heartbeatBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Renewal>) {
      const latest = new Map<string, Renewal>()
      for (const renewal of batch) latest.set(leaseKey(renewal), renewal)
      const sent = [...latest.values()]
      const rows = yield* heartbeatBatchStatement({
        rows: JSON.stringify(
          sent.map(({ id, token, expiresAt, now }, i) => ({ i, id, token, expires_at: expiresAt, now }))
        )
      })
      // held: what another process asked of the task, if anything (a cancel wins)
      const held = new Map<string, "cancel" | "pause" | undefined>()
      for (const row of rows) {
        const renewal = sent[Number(row.i)]
        const request = row.cancel_requested === true ? "cancel" : row.pause_requested === true ? "pause" : undefined
        if (renewal !== undefined) held.set(leaseKey(renewal), request)
      }
      return batch.map((renewal) => {
        const key = leaseKey(renewal)
        if (!held.has(key)) return Exit.fail(new LeaseLost({ taskId: renewal.id, token: renewal.token }))
        const request = held.get(key)
        return request === "cancel"
          ? Exit.fail(new CancelRequested({ taskId: renewal.id }))
          : request === "pause"
            ? Exit.fail(new PauseRequested({ taskId: renewal.id }))
            : Exit.void
      })
    })

    const heartbeatBatched = yield* batched(heartbeatAlone, heartbeatBatch)
    return (id: string, token: number, expiresAt: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => heartbeatBatched({ id, token, expiresAt, now }))
  })
