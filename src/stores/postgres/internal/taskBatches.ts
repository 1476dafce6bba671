/**
 * The task store's batched writes: many `create`s as one INSERT, many `claim`s, `finish`es and `heartbeat`s each as
 * one UPDATE, each committed at once, and each caller's own outcome read back from what the statement returned.
 * The rows come as one JSON array parameter, so each statement has one text, whatever the batch's size, on both
 * drivers. `PgTaskStore` sends a lone call through its single-row statements instead (cheaper for one row).
 */
import { and, eq, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm"
import { Effect, Exit, Option } from "effect"
import { CancelRequested, LeaseLost, PauseRequested, StoreError } from "../../errors.ts"
import type { TaskRecord, TaskStatus } from "../../TaskRecord.ts"
import type { NewTask, Transition } from "../../TaskStore.ts"
import type { Database } from "../Db.ts"
import type { Driver, Rows } from "../Driver.ts"
import { notifyWork } from "../Notifications.ts"
import { tasks } from "../schema.ts"
import type { Outcomes } from "./batcher.ts"
import {
  claimedUnlessAsked,
  finishedUnlessAsked,
  named,
  nextFencingToken,
  returnedNamed,
  toRecord
} from "./taskRows.ts"

/** A `create` waiting for its batch, with the time it was asked at. */
export interface Creation {
  readonly task: NewTask
  readonly now: number
}

/** A `claim` of a task without a `maxParallel`, waiting for its batch. */
export interface Claiming {
  readonly id: string
  readonly owner: string
  readonly expiresAt: number
  readonly now: number
}

/** A `finish` waiting for its batch. */
export interface Ending {
  readonly id: string
  readonly token: number
  readonly transition: Transition
  readonly now: number
}

/** A `heartbeat` waiting for its batch. */
export interface Renewal {
  readonly id: string
  readonly token: number
  readonly expiresAt: number
  readonly now: number
}

export interface TaskBatches {
  readonly create: (batch: ReadonlyArray<Creation>) => Effect.Effect<Outcomes<TaskRecord, never>, StoreError>
  readonly claim: (
    batch: ReadonlyArray<Claiming>
  ) => Effect.Effect<Outcomes<Option.Option<TaskRecord>, never>, StoreError>
  readonly finish: (batch: ReadonlyArray<Ending>) => Effect.Effect<Outcomes<TaskRecord, LeaseLost>, StoreError>
  readonly heartbeat: (
    batch: ReadonlyArray<Renewal>
  ) => Effect.Effect<Outcomes<void, LeaseLost | CancelRequested | PauseRequested>, StoreError>
}

/**
 * A JSON value as a batch row carries it: wrapped in a one-element array and taken out with `-> 0`, because
 * `jsonb_to_recordset` reads a JSON null as SQL NULL. `undefined` is left out, so it is stored as SQL NULL.
 */
const wrapped = (value: unknown): ReadonlyArray<unknown> | undefined => (value === undefined ? undefined : [value])

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

/** What a transition writes: its new status and the values that status sets (see `finishStatement`). */
interface Written {
  readonly status: TaskStatus
  readonly output?: unknown
  readonly error?: unknown
  readonly reason?: unknown
  readonly run_at?: number | undefined
  readonly attempt?: number
  readonly finished_at?: number
}

const written = (transition: Transition, now: number): Written => {
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

const leaseKey = (lease: { readonly id: string; readonly token: number }) => `${lease.token}:${lease.id}`

const r = (column: string): SQL => sql.raw(`r.${column}`)
const json = (column: string): SQL => sql`${r(column)} -> 0`
const rowsOf = (columns: string) =>
  sql`jsonb_to_recordset(${sql.placeholder("rows")}::text::jsonb) as r(${sql.raw(columns)})`

/**
 * Prepares the batched statements. `inStatement`: the statements wake workers from their RETURNING list (PGlite);
 * otherwise `notifyAfter` sends the wake-ups once they have committed (a server).
 */
export const makeTaskBatches = (options: {
  readonly db: Database
  readonly driver: Driver["Service"]
  readonly notifyAfter: Option.Option<(runAt: number | undefined) => Effect.Effect<void>>
}): TaskBatches => {
  const { db, driver, notifyAfter } = options
  const inStatement = Option.isNone(notifyAfter)

  /** After a batch, on a server: one wake-up per due time among the rows that `wakes` (a listener hears one anyway). */
  const notifyRows = (rows: Rows, wakes: (row: Record<string, unknown>) => boolean) => {
    if (Option.isNone(notifyAfter)) return Effect.void
    const dueTimes = new Set<number | undefined>()
    for (const row of rows) if (wakes(row)) dueTimes.add(typeof row.runAt === "number" ? row.runAt : undefined)
    return Effect.forEach(dueTimes, notifyAfter.value, { discard: true })
  }

  // With a lease, a task is created already claimed, as `claim` would leave it: not runnable, so it wakes nobody.
  const isLeased = sql`r.owner is not null`
  const newTask = {
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
  // No conflict target: a row whose id or idempotency key is taken is skipped, not an error for the whole batch.
  // ON CONFLICT waits for a concurrent insert of the same key to commit, so the read that follows sees it.
  const createStatement = driver.prepare(
    "create",
    db
      .insert(tasks)
      .select(
        db
          // the INSERT takes the columns in the table's order, which `newTask` keeps
          .select(
            Object.fromEntries(Object.entries(newTask).map(([key, column]) => [key, column.as(key)])) as {
              [K in keyof typeof newTask]: SQL.Aliased
            }
          )
          .from(
            rowsOf(
              "id text, name text, input jsonb, session_id text, parent_id text, idempotency_key text, now bigint, run_at bigint, owner text, expires_at bigint"
            )
          )
      )
      .onConflictDoNothing()
      .returning(
        inStatement ? named({ notified: notifyWork(tasks.runAt, sql`${tasks.status} = 'pending'`) }) : returnedNamed
      )
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

  /**
   * The rows of a batched UPDATE, as a CTE `r` that it joins to the tasks they name, still running under their
   * token. The planner takes `jsonb_to_recordset` for 100 rows and may think few tasks run: the ids are given again
   * as `id = any(...)`, which it reads as a few primary key lookups, and the status is tested with `is true`, which
   * no index serves, so no plan scans the running tasks (measured with 20 000 running and stale statistics: 6-10 ms
   * a statement through the status index, about 1 ms by primary key).
   */
  const updateRows = (columns: string) =>
    db.$with("r", { id: sql<string>`id`.as("id") }).as(sql`select * from ${rowsOf(columns)}`)
  const isHeldByRow = and(
    sql`${tasks.id} = any(array(select r.id from r))`,
    eq(tasks.id, r("id")),
    sql`(${tasks.status} = 'running') is true`,
    eq(tasks.fencingToken, r("token"))
  )

  // Each row says its new status and what it sets (`written`); a column its transition leaves alone keeps its value.
  // A stale token matches no row. Two rows for one task and token update it once, and RETURNING names the row that
  // did (`i`), so the other gets `LeaseLost`.
  const finishRows = updateRows(
    "i int, id text, token bigint, status text, now bigint, output jsonb, error jsonb, reason jsonb, run_at bigint, attempt int, finished_at bigint"
  )
  const finishStatement = driver.prepare(
    "finish",
    db
      .with(finishRows)
      .update(tasks)
      .set({
        leaseOwner: null,
        leaseExpiresAt: null,
        updatedAt: r("now"),
        output: sql`case when r.status = 'completed' then ${json("output")} else ${tasks.output} end`,
        // a suspension or requeue of a task whose cancel or pause another process asked for ends it cancelled, or
        // pauses it
        ...finishedUnlessAsked(sql`r.status in ('pending', 'suspended')`, r("now"), {
          status: r("status"),
          runAt: r("run_at"),
          suspendReason: json("reason"),
          attempt: sql`coalesce(r.attempt, ${tasks.attempt})`,
          // a requeue without an error keeps the previous attempt's
          error: sql`case when r.status = 'failed' then ${json("error")} else coalesce(${json("error")}, ${tasks.error}) end`,
          finishedAt: sql`coalesce(r.finished_at, ${tasks.finishedAt})`
        })
      })
      .from(finishRows)
      .where(isHeldByRow)
      // a requeue wakes workers; a suspension only with a due time (without one it waits for a wake, which notifies)
      .returning({
        ...(inStatement
          ? named({
              notified: notifyWork(
                tasks.runAt,
                sql`${tasks.status} = 'pending' or (${tasks.status} = 'suspended' and ${tasks.runAt} is not null)`
              )
            })
          : returnedNamed),
        i: r("i").as("i")
      })
  )

  // Claims, as `claim` defines a runnable task, at each row's time. The claimable tasks are locked first, skipping
  // those another transaction holds rather than waiting: batches of claims from several workers would lock shared tasks in
  // different orders and could deadlock. A task skipped is being claimed by the other (or changed by its owner): its
  // claim here answers None, as a claim that lost the race does, and a worker finds it again if it is still runnable.
  // Two rows for one task claim it once, and RETURNING names the row that did (`i`).
  const claimRows = updateRows("i int, id text, owner text, expires_at bigint, now bigint")
  const claimStatement = driver.prepare(
    "claim",
    db
      .with(claimRows)
      .update(tasks)
      // a task whose cancel or pause another process asked for is not claimed: it ends cancelled, or is paused
      .set(claimedUnlessAsked(r("owner"), r("expires_at"), r("now")))
      .from(claimRows)
      .where(
        and(
          // Only the rows claimable when locked: a row locked and then left alone would be skipped, for nothing, by
          // another batch. Locking re-checks the condition on a row's newest version.
          sql`${tasks.id} in (select locked.id from ${tasks} as locked join r as wanted on wanted.id = locked.id
            where locked.id = any(array(select r.id from r)) and (
              (locked.status = 'pending' and (locked.run_at is null or locked.run_at <= wanted.now))
              or (locked.status = 'suspended' and locked.run_at <= wanted.now)
              or (locked.status = 'running' and locked.lease_expires_at < wanted.now))
            for update of locked skip locked)`,
          eq(tasks.id, r("id")),
          or(
            and(eq(tasks.status, "pending"), or(isNull(tasks.runAt), lte(tasks.runAt, r("now")))),
            and(eq(tasks.status, "suspended"), lte(tasks.runAt, r("now"))),
            and(eq(tasks.status, "running"), lt(tasks.leaseExpiresAt, r("now")))
          )
        )
      )
      .returning({ ...returnedNamed, i: r("i").as("i") })
  )

  const heartbeatRows = updateRows("i int, id text, token bigint, expires_at bigint, now bigint")
  const heartbeatStatement = driver.prepare(
    "heartbeat",
    db
      .with(heartbeatRows)
      .update(tasks)
      .set({ leaseExpiresAt: r("expires_at"), updatedAt: r("now") })
      .from(heartbeatRows)
      .where(isHeldByRow)
      .returning({
        i: r("i").as("i"),
        cancelRequested: sql`${tasks.cancelRequested}`.as("cancel_requested"),
        pauseRequested: sql`${tasks.pauseRequested}`.as("pause_requested")
      })
  )

  /**
   * One INSERT, then, for the creations whose row was skipped and that carry an idempotency key, one read of the
   * tasks holding their keys. Only the INSERT's failure fails the batch: once it has committed, a failure belongs to
   * the creations it concerns.
   */
  const create = Effect.fnUntraced(function* (batch: ReadonlyArray<Creation>) {
    const rows = yield* createStatement({ rows: JSON.stringify(batch.map(creationRow)) })
    yield* notifyRows(rows, (row) => row.status === "pending")
    const outcomes: Array<Exit.Exit<TaskRecord, StoreError> | undefined> = batch.map(() => undefined)
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
        Exit.fail(
          new StoreError({
            operation: "create",
            cause: new Error(`task ${task.id}: not inserted (its id is taken), and no task holds its idempotency key`)
          })
        )
    )
  })

  const claim = Effect.fnUntraced(function* (batch: ReadonlyArray<Claiming>) {
    const rows = yield* claimStatement({
      rows: JSON.stringify(
        batch.map(({ id, owner, expiresAt, now }, i) => ({ i, id, owner, expires_at: expiresAt, now }))
      )
    })
    const outcomes: Array<Exit.Exit<Option.Option<TaskRecord>, StoreError> | undefined> = batch.map(() => undefined)
    for (const { i, ...row } of rows) {
      if (typeof i === "number") outcomes[i] = yield* Effect.exit(Effect.map(toRecord("claim")(row), Option.some))
    }
    return batch.map((_, i) => outcomes[i] ?? Exit.succeed(Option.none<TaskRecord>()))
  })

  const finish = Effect.fnUntraced(function* (batch: ReadonlyArray<Ending>) {
    const rows = yield* finishStatement({ rows: JSON.stringify(batch.map(transitionRow)) })
    yield* notifyRows(rows, (row) => row.status === "pending" || (row.status === "suspended" && row.runAt !== null))
    const outcomes: Array<Exit.Exit<TaskRecord, StoreError | LeaseLost> | undefined> = batch.map(() => undefined)
    for (const { i, ...row } of rows)
      if (typeof i === "number") outcomes[i] = yield* Effect.exit(toRecord("finish")(row))
    return batch.map((ending, i) => outcomes[i] ?? Exit.fail(new LeaseLost({ taskId: ending.id, token: ending.token })))
  })

  // Renewals of one task and token go as one row (the last asked wins), so that each of them succeeds.
  const heartbeat = Effect.fnUntraced(function* (batch: ReadonlyArray<Renewal>) {
    const latest = new Map<string, Renewal>()
    for (const renewal of batch) latest.set(leaseKey(renewal), renewal)
    const sent = [...latest.values()]
    const rows = yield* heartbeatStatement({
      rows: JSON.stringify(
        sent.map(({ id, token, expiresAt, now }, i) => ({ i, id, token, expires_at: expiresAt, now }))
      )
    })
    // held: what another process asked of the task, if anything (a cancel wins)
    const held = new Map<string, "cancel" | "pause" | undefined>()
    for (const row of rows) {
      const renewal = sent[Number(row.i)]
      const asked = row.cancel_requested === true ? "cancel" : row.pause_requested === true ? "pause" : undefined
      if (renewal !== undefined) held.set(leaseKey(renewal), asked)
    }
    return batch.map((renewal) => {
      const key = leaseKey(renewal)
      if (!held.has(key)) return Exit.fail(new LeaseLost({ taskId: renewal.id, token: renewal.token }))
      const asked = held.get(key)
      return asked === "cancel"
        ? Exit.fail(new CancelRequested({ taskId: renewal.id }))
        : asked === "pause"
          ? Exit.fail(new PauseRequested({ taskId: renewal.id }))
          : Exit.void
    })
  })

  return { create, claim, finish, heartbeat }
}
