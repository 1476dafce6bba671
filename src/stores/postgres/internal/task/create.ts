/**
 * `create`: one INSERT, pending (waking workers) or already claimed under a lease. A taken id or idempotency key
 * inserts nothing; a key already used then reads the task that holds it. Concurrent creates go as one INSERT
 * (`batch.ts`), each caller getting its own task.
 */
import { eq, type SQL, sql } from "drizzle-orm"
import { Clock, Effect, Exit, Option } from "effect"
import { type StoreError, TaskIdTaken } from "../../../errors.ts"
import type { TaskRecord } from "../../../TaskRecord.ts"
import type { NewTask } from "../../../TaskStore.ts"
import { tasks } from "../../schema.ts"
import { batched, json, r, rowsOf, wrapped } from "./batch.ts"
import type { TaskContext } from "./context.ts"
import { firstRecord, jsonb, jsonText, nextFencingToken, returnedNamed, returnedWaking, toRecord } from "./rows.ts"

/** A `create` waiting for its batch, with the time it was asked at. */
interface Creation {
  readonly task: NewTask
  readonly now: number
}

/** A creation as a row of the batched INSERT (absent fields read as SQL NULL). */
const creationRow = ({ task, now }: Creation) => ({
  id: task.id,
  name: task.name,
  input: wrapped(task.input),
  session_id: task.sessionId,
  parent_id: task.parentId,
  idempotency_key: task.idempotencyKey,
  now,
  // not combined with a lease: a task created claimed has no due time
  run_at: task.lease === undefined ? task.runAt : undefined,
  owner: task.lease?.owner,
  expires_at: task.lease?.expiresAt
})

export const makeCreate = ({ db, driver, inStatement, notified, notifiedPerDueTime }: TaskContext) =>
  Effect.gen(function* () {
    const newTask = {
      id: sql.placeholder("id"),
      name: sql.placeholder("name"),
      input: jsonb("input"),
      attempt: 1,
      sessionId: sql.placeholder("sessionId"),
      parentId: sql.placeholder("parentId"),
      idempotencyKey: sql.placeholder("idempotencyKey"),
      createdAt: sql.placeholder("now"),
      updatedAt: sql.placeholder("now")
    }
    // No conflict target, here and in the batch: a taken id or idempotency key inserts nothing, whichever form the
    // unique index on keys has (partial since migration 0003). ON CONFLICT waits for a concurrent insert of the same
    // key to commit, so the read that follows sees it.
    const insertStatement = driver.prepare(
      "create",
      db
        .insert(tasks)
        .values({ ...newTask, status: "pending", runAt: sql.placeholder("runAt"), fencingToken: 0 })
        .onConflictDoNothing()
        .returning(returnedWaking(inStatement))
    )
    // Created already claimed, as `claim` would leave it; not runnable, so nobody is woken.
    const insertClaimedStatement = driver.prepare(
      "create",
      db
        .insert(tasks)
        .values({
          ...newTask,
          status: "running",
          leaseOwner: sql.placeholder("owner"),
          leaseExpiresAt: sql.placeholder("expiresAt"),
          fencingToken: nextFencingToken,
          startedAt: sql.placeholder("now")
        })
        .onConflictDoNothing()
        .returning(returnedNamed)
    )
    const byIdempotencyKey = driver.prepare(
      "create",
      db
        .select(returnedNamed)
        .from(tasks)
        .where(eq(tasks.idempotencyKey, sql.placeholder("idempotencyKey")))
    )

    // A row with a lease is created already claimed: not runnable, so it wakes nobody.
    const isLeased = sql`r.owner is not null`
    const newTaskOfRow = {
      id: r("id"),
      name: r("name"),
      input: json("input"),
      status: sql`case when ${isLeased} then 'running' else 'pending' end`,
      attempt: sql`1`,
      sessionId: r("session_id"),
      parentId: r("parent_id"),
      idempotencyKey: r("idempotency_key"),
      output: sql`null`,
      error: sql`null`,
      suspendReason: sql`null`,
      runAt: r("run_at"),
      leaseOwner: r("owner"),
      leaseExpiresAt: r("expires_at"),
      fencingToken: sql`case when ${isLeased} then ${nextFencingToken} else 0 end`,
      cancelRequested: sql`false`,
      pauseRequested: sql`false`,
      createdAt: r("now"),
      updatedAt: r("now"),
      startedAt: sql`case when ${isLeased} then r.now end`,
      finishedAt: sql`null`
    }
    const insertBatchStatement = driver.prepare(
      "create",
      db
        .insert(tasks)
        .select(
          db
            // the INSERT takes the columns in the table's order, which `newTaskOfRow` keeps
            .select(
              Object.fromEntries(Object.entries(newTaskOfRow).map(([key, column]) => [key, column.as(key)])) as {
                [K in keyof typeof newTaskOfRow]: SQL.Aliased
              }
            )
            .from(
              rowsOf(
                "id text, name text, input jsonb, session_id text, parent_id text, idempotency_key text, now bigint, run_at bigint, owner text, expires_at bigint"
              )
            )
        )
        .onConflictDoNothing()
        .returning(returnedWaking(inStatement, sql`${tasks.status} = 'pending'`))
    )
    const byIdempotencyKeys = driver.prepare(
      "create",
      db
        .select(returnedNamed)
        .from(tasks)
        .where(
          sql`${tasks.idempotencyKey} = any(array(select jsonb_array_elements_text(${sql.placeholder("keys")}::text::jsonb)))`
        )
    )

    const createAlone = Effect.fnUntraced(function* ({ task, now }: Creation) {
      const values = {
        id: task.id,
        name: task.name,
        input: jsonText(task.input),
        sessionId: task.sessionId ?? null,
        parentId: task.parentId ?? null,
        idempotencyKey: task.idempotencyKey ?? null,
        now
      }
      const lease = task.lease
      const inserted =
        lease === undefined
          ? yield* insertStatement({ ...values, runAt: task.runAt ?? null })
          : yield* insertClaimedStatement({ ...values, owner: lease.owner, expiresAt: lease.expiresAt })
      if (lease === undefined) yield* notified(inserted, task.runAt)
      const created = yield* firstRecord("create")(inserted)
      if (Option.isSome(created)) return created.value
      if (task.idempotencyKey !== undefined) {
        const existing = yield* Effect.flatMap(
          byIdempotencyKey({ idempotencyKey: task.idempotencyKey }),
          firstRecord("create")
        )
        if (Option.isSome(existing)) return existing.value
      }
      // not inserted, and no task holds its key: the id is taken (the only other unique column)
      return yield* new TaskIdTaken({ taskId: task.id })
    })

    /**
     * One INSERT, then, for the creations whose row was skipped and that carry an idempotency key, one read of the
     * tasks holding their keys. Only the INSERT's failure fails the batch: once it has committed, a failure belongs to
     * the creations it concerns.
     */
    const createBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Creation>) {
      const rows = yield* insertBatchStatement({ rows: JSON.stringify(batch.map(creationRow)) })
      yield* notifiedPerDueTime(rows, (row) => row.status === "pending")
      const outcomes: Array<Exit.Exit<TaskRecord, StoreError | TaskIdTaken> | undefined> = batch.map(() => undefined)
      // A row is the task of the first creation of its id and key: of two creations of one id, the database inserted
      // the first and skipped the other.
      const byId = new Map<unknown, Array<number>>()
      for (const [i, { task }] of batch.entries()) byId.set(task.id, [...(byId.get(task.id) ?? []), i])
      for (const row of rows) {
        const at = byId
          .get(row.id)
          ?.find((i) => outcomes[i] === undefined && (batch[i]?.task.idempotencyKey ?? null) === row.idempotencyKey)
        if (at !== undefined) outcomes[at] = yield* Effect.exit(toRecord("create")(row))
      }
      const keys = new Set<string>()
      for (const [i, { task }] of batch.entries()) {
        if (outcomes[i] === undefined && task.idempotencyKey !== undefined) keys.add(task.idempotencyKey)
      }
      const existing = new Map<unknown, Exit.Exit<TaskRecord, StoreError>>()
      if (keys.size > 0) {
        const read = yield* Effect.exit(byIdempotencyKeys({ keys: JSON.stringify([...keys]) }))
        if (Exit.isFailure(read)) for (const key of keys) existing.set(key, Exit.failCause(read.cause))
        else for (const row of read.value) existing.set(row.idempotencyKey, yield* Effect.exit(toRecord("create")(row)))
      }
      return batch.map(
        ({ task }, i) =>
          outcomes[i] ??
          (task.idempotencyKey === undefined ? undefined : existing.get(task.idempotencyKey)) ??
          Exit.fail(new TaskIdTaken({ taskId: task.id }))
      )
    })

    const createBatched = yield* batched(createAlone, createBatch)
    return (task: NewTask) => Effect.flatMap(Clock.currentTimeMillis, (now) => createBatched({ task, now }))
  })
