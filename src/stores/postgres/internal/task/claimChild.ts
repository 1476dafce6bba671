/**
 * `claimChild`: the oldest runnable child of a parent among tasks of some names (one a sibling's end released, for
 * the runtime that drove that sibling), claimed as `claim` claims it, in one UPDATE. Only pending children are looked
 * at, through the partial index of a parent's idle children, so a fan-out of thousands reads none of its ended ones.
 */

import { Clock, Effect, Option } from "effect"
import type { StoreError } from "../../../errors.ts"
import type { TaskRecord } from "../../../TaskRecord.ts"
import type { Lease } from "../../../TaskStore.ts"
import type { Database } from "../../Db.ts"
import { tasks } from "../../schema.ts"
import { alias, and, eq, sql } from "../drizzle.ts"
import { claimedUnlessAsked, claimReturnedNamed } from "./claim.ts"
import type { TaskContext } from "./context.ts"
import { firstRecord, param } from "./rows.ts"
import { isNamed, isRunnable } from "./runnable.ts"

// The children as the subquery reads them, apart from the row the UPDATE writes.
const candidate = alias(tasks, "candidate")

/** The oldest runnable child of the placeholder `parentId` among the placeholder `names`, at the placeholder `now`. */
const oldestRunnableChild = (db: Database) =>
  db
    .select({ id: candidate.id })
    .from(candidate)
    .where(
      and(
        eq(candidate.parentId, sql.placeholder("parentId")),
        // a literal, as in the index's condition, so that the planner sees the index serves it
        sql`${candidate.status} = 'pending'`,
        isNamed(candidate.name),
        isRunnable(candidate, sql.placeholder("now"))
      )
    )
    .orderBy(candidate.createdAt, candidate.id)
    .limit(1)

/**
 * The claim of that child, locking it first and skipping a child another transaction holds (a concurrent
 * `claimChild` takes the next one). Exported for the test that reads its plan.
 */
export const claimChildQuery = (db: Database) =>
  db
    .update(tasks)
    .set(
      claimedUnlessAsked(sql`${param("owner")}::text`, sql`${param("expiresAt")}::bigint`, sql`${param("now")}::bigint`)
    )
    .where(
      and(
        sql`${tasks.id} = (${oldestRunnableChild(db).for("update", { skipLocked: true })})`,
        isRunnable(tasks, sql.placeholder("now"))
      )
    )
    .returning(claimReturnedNamed)

export const makeClaimChild = (
  { db, driver }: TaskContext,
  claim: (id: string, lease: Lease) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
) => {
  const claimChildStatement = driver.prepare("claimChild", claimChildQuery(db))
  const oldestStatement = driver.prepare("claimChild", oldestRunnableChild(db))

  return Effect.fnUntraced(function* (parentId: string, names: ReadonlyArray<string>, lease: Lease) {
    if (names.length === 0) return Option.none<TaskRecord>()
    const now = yield* Clock.currentTimeMillis
    const values = { parentId, names: JSON.stringify(names), now }
    // under `maxParallel`, the claim counts the live leases first, as `claim` does
    if (lease.maxParallel !== undefined && Number.isFinite(lease.maxParallel)) {
      const oldest = yield* oldestStatement(values)
      const id = oldest[0]?.id
      return typeof id === "string" ? yield* claim(id, lease) : Option.none<TaskRecord>()
    }
    const rows = yield* claimChildStatement({ ...values, owner: lease.owner, expiresAt: lease.expiresAt })
    // carried out a cancel or a pause asked instead
    return Option.filter(yield* firstRecord("claimChild")(rows), (record) => record.status === "running")
  })
}
