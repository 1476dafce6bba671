/**
 * Which task a fenced write (`finish`, `heartbeat`) may change: one still `running` under the attempt's fencing token.
 * The condition is part of the writing statement, so a stale attempt writes nothing, whichever process it runs in.
 */

import { tasks } from "../../schema.ts"
import { and, eq, sql } from "../drizzle.ts"
import { r } from "./batch.ts"
import { param } from "./rows.ts"

/** The task of the placeholder `id`, held under the placeholder `token`. */
export const isHeld = and(
  eq(tasks.id, sql.placeholder("id")),
  eq(tasks.status, "running"),
  eq(tasks.fencingToken, sql.placeholder("token"))
)

/**
 * The tasks of a batch's rows `r` (`prepareBatchUpdate`), each held under its row's token. The ids are given again
 * as `id = any(...)` and the status tested with `is true` (which no index serves), so the plan looks tasks up by
 * primary key rather than scan the running ones: 1 against 6-10 ms a statement with 20 000 running, measured.
 */
export const isHeldByRow = and(
  sql`${tasks.id} = any(array(select r.id from r))`,
  eq(tasks.id, r("id")),
  sql`(${tasks.status} = 'running') is true`,
  eq(tasks.fencingToken, r("token"))
)

/** What giving up a lease writes, at the placeholder `now`. */
export const released = { leaseOwner: null, leaseExpiresAt: null, updatedAt: param("now") }
