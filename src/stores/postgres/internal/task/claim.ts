/**
 * `claim`: a runnable task (`runnable.ts`) taken to `running` under a new lease and a new fencing token, in one
 * UPDATE. Without `maxParallel`, concurrent claims go as one statement (`batch.ts`); under it, a transaction takes an
 * advisory lock on (session, name) and counts the live leases first.
 */

import { Clock, Effect, Exit, Option } from "effect"
import type { StoreError } from "../../../errors.ts"
import type { TaskRecord } from "../../../TaskRecord.ts"
import type { Lease } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import { attempt } from "../attempt.ts"
import { alias, and, eq, gte, isNull, ne, type SQL, sql } from "../drizzle.ts"
import { batched, prepareBatchUpdate, r } from "./batch.ts"
import { prepareUpdate, type TaskContext } from "./context.ts"
import { anyAsked, cancelAsked, pauseAsked, pausedReason } from "./requests.ts"
import { firstRecord, named, nextFencingToken, param, returned, toRecord } from "./rows.ts"
import { isRunnable } from "./runnable.ts"

/** A `claim` of a task without a `maxParallel`, waiting for its batch. */
interface Claiming {
  readonly id: string
  readonly owner: string
  readonly expiresAt: number
  readonly now: number
}

/**
 * What a claim writes, at `now`, for a lease of `owner` until `expiresAt` (each an SQL bigint or text expression). A
 * task whose cancel another process asked for is not claimed but recorded `cancelled`; one whose pause was asked,
 * `suspended` (`Paused`, until a wake). Either way it keeps no lease, and the claim's row says so by its status.
 */
export const claimedUnlessAsked = (owner: SQL, expiresAt: SQL, now: SQL) => ({
  status: sql`case when ${cancelAsked} then 'cancelled' when ${pauseAsked} then 'suspended' else 'running' end`,
  leaseOwner: sql`case when ${anyAsked} then null else ${owner} end`,
  leaseExpiresAt: sql`case when ${anyAsked} then null else ${expiresAt} end`,
  fencingToken: nextFencingToken,
  runAt: null,
  suspendReason: sql`case when ${pauseAsked} then ${pausedReason} end`,
  pauseRequested: false,
  updatedAt: now,
  startedAt: sql`coalesce(${tasks.startedAt}, ${now})`,
  finishedAt: sql`case when ${cancelAsked} then ${now} else ${tasks.finishedAt} end`
})

/**
 * True (else NULL) when the claim is the task's first (`TaskRecord.firstClaim`): a sub-select reads the row as the
 * statement found it, before its own write set `started_at`. The task's id is named with its table, which a RETURNING
 * list would otherwise leave unqualified (and the sub-select would read as its own row's).
 */
const startedNever = sql<boolean | null>`(select true from ${tasks} as before_claim
  where before_claim.id = ${tasks}.id and before_claim.started_at is null)`

/** What a claim returns: the task, and whether this claim was its first. */
export const claimReturned = { ...returned, firstClaim: startedNever }
export const claimReturnedNamed = named({ firstClaim: startedNever })

// The batch's view of a task while it locks it.
const locked = alias(tasks, "locked")

export const makeClaim = (context: TaskContext) =>
  Effect.gen(function* () {
    const { db } = context
    const claimStatement = prepareUpdate(context, "claim", {
      set: claimedUnlessAsked(
        sql`${param("owner")}::text`,
        sql`${param("expiresAt")}::bigint`,
        sql`${param("now")}::bigint`
      ),
      where: and(eq(tasks.id, sql.placeholder("id")), isRunnable(tasks, sql.placeholder("now"))),
      returning: claimReturnedNamed
    })

    // Locks the runnable tasks first, skipping those another transaction holds: batches from several workers would
    // otherwise lock shared tasks in different orders and could deadlock. A skipped task answers None, as a lost race
    // does; two rows for one task claim it once, and RETURNING names the row that did (`i`).
    const claimBatchStatement = prepareBatchUpdate(
      context,
      "claim",
      "i int, id text, owner text, expires_at bigint, now bigint",
      {
        set: claimedUnlessAsked(r("owner"), r("expires_at"), r("now")),
        where: and(
          sql`${tasks.id} in (select ${locked.id} from ${tasks} as locked join r as wanted on wanted.id = ${locked.id}
            where ${locked.id} = any(array(select r.id from r)) and ${isRunnable(locked, sql`wanted.now`)}
            for update of locked skip locked)`,
          eq(tasks.id, r("id")),
          isRunnable(tasks, r("now"))
        ),
        returning: { ...claimReturnedNamed, i: r("i").as("i") }
      }
    )

    const claimAlone = ({ id, owner, expiresAt, now }: Claiming) =>
      Effect.flatMap(claimStatement({ id, owner, expiresAt, now }), firstRecord("claim"))

    const claimBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Claiming>) {
      const rows = yield* claimBatchStatement({
        rows: JSON.stringify(
          batch.map(({ id, owner, expiresAt, now }, i) => ({ i, id, owner, expires_at: expiresAt, now }))
        )
      })
      const outcomes: Array<Exit.Exit<Option.Option<TaskRecord>, StoreError> | undefined> = batch.map(() => undefined)
      // the row's `i` is no field of a record: decoding leaves it out
      for (const row of rows) {
        const i = row.i
        if (typeof i === "number") outcomes[i] = Exit.map(toRecord("claim")(row), Option.some)
      }
      return batch.map((_, i) => outcomes[i] ?? Exit.succeed(Option.none<TaskRecord>()))
    })

    // A worker starts a driver per task it found, and each claims at once: their claims go as one statement.
    const claimBatched = yield* batched(claimAlone, claimBatch)

    /**
     * A claim under `maxParallel`: one transaction that first takes an advisory lock on (session, name), so claims of
     * the same pair in other processes wait, then counts the live leases (seeing every claim committed before the
     * lock), then claims.
     */
    const claimLimited = (id: string, lease: Lease, maxParallel: number, now: number) =>
      attempt("claim", () =>
        db.transaction(async (tx) => {
          const target = await tx
            .select({ name: tasks.name, sessionId: tasks.sessionId })
            .from(tasks)
            .where(eq(tasks.id, id))
          const first = target[0]
          if (first === undefined) return []
          await tx.execute(
            sql`select pg_advisory_xact_lock(hashtext(${`waypoint:claim:${first.sessionId ?? ""}\u001f${first.name}`}))`
          )
          const live = await tx
            .select({ count: sql<number>`count(*)::int` })
            .from(tasks)
            .where(
              and(
                eq(tasks.status, "running"),
                eq(tasks.name, first.name),
                first.sessionId === null ? isNull(tasks.sessionId) : eq(tasks.sessionId, first.sessionId),
                gte(tasks.leaseExpiresAt, now),
                ne(tasks.id, id)
              )
            )
          if ((live[0]?.count ?? 0) >= maxParallel) return []
          return tx
            .update(tasks)
            .set(claimedUnlessAsked(sql`${lease.owner}::text`, sql`${lease.expiresAt}::bigint`, sql`${now}::bigint`))
            .where(and(eq(tasks.id, id), isRunnable(tasks, now)))
            .returning(claimReturned)
        })
      ).pipe(Effect.flatMap(firstRecord("claim")))

    return Effect.fnUntraced(function* (id: string, lease: Lease) {
      const now = yield* Clock.currentTimeMillis
      const claimed = yield* lease.maxParallel === undefined || !Number.isFinite(lease.maxParallel)
        ? claimBatched({ id, owner: lease.owner, expiresAt: lease.expiresAt, now })
        : claimLimited(id, lease, lease.maxParallel, now)
      // ended cancelled or paused instead, as another process had asked
      return Option.filter(claimed, (record) => record.status === "running")
    })
  })
