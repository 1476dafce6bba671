/**
 * The `TaskStore` on PostgreSQL (a server or PGlite). Every operation is one statement, except `create` with an
 * idempotency key already used (an insert that does nothing, then a read): a fenced write checks the token and
 * writes in the same UPDATE, so a stale attempt writes nothing, whichever process it runs in. A write that makes a
 * task runnable notifies workers (`Notifications`), so `awaitWork` returns once it has committed, in every process
 * that shares the database. The fixed statements are prepared on the `Driver`; `list` and a claim under
 * `maxParallel` go through drizzle.
 *
 * `create`, `finish` and `heartbeat` commit in groups: a call that finds no statement of its kind in flight goes at
 * once, as a single-row statement; calls that arrive meanwhile go together as one statement (`taskBatches.ts`) once
 * it has returned, and each gets its own outcome. Under load that is one commit for many tasks.
 */
import { and, eq, gte, inArray, isNull, lt, lte, ne, or, sql } from "drizzle-orm"
import type { PgUpdateSetSource } from "drizzle-orm/pg-core"
import { Clock, Effect, Layer, Option, Stream } from "effect"
import { CancelRequested, InvalidCursor, LeaseLost, PauseRequested, StoreError } from "../errors.ts"
import type { SuspendReason, TaskRecord } from "../TaskRecord.ts"
import {
  type Lease,
  type NewTask,
  type RunnableQuery,
  type TaskPage,
  type TaskQuery,
  TaskStore,
  type Transition
} from "../TaskStore.ts"
import { Db } from "./Db.ts"
import { Driver, type Rows } from "./Driver.ts"
import { attempt } from "./internal/attempt.ts"
import { makeBatcher, type Outcomes } from "./internal/batcher.ts"
import { type Claiming, type Creation, type Ending, makeTaskBatches, type Renewal } from "./internal/taskBatches.ts"
import {
  claimedUnlessAsked,
  finishedUnlessAsked,
  firstRecord,
  jsonb,
  jsonText,
  named,
  nextFencingToken,
  param,
  returned,
  returnedNamed,
  returnedNotifying,
  toRecord
} from "./internal/taskRows.ts"
import { Notifications, notifyWork } from "./Notifications.ts"
import { tasks } from "./schema.ts"

/** The same, waking workers only for a row with a due time (a suspension without one waits for a wake). */
const returnedNotifyingWhenDue = named({ notified: notifyWork(tasks.runAt, sql`${tasks.runAt} is not null`) })
/** The same, waking workers only for a row left pending (a requeue may be recorded cancelled or paused instead). */
const returnedNotifyingWhenPending = named({ notified: notifyWork(tasks.runAt, sql`${tasks.status} = 'pending'`) })

const cursorOf = (task: TaskRecord): string => `${task.createdAt}:${task.id}`

// At most 15 digits: a time in milliseconds, and always within a bigint.
const parseCursor = (cursor: string) => {
  const match = /^(\d{1,15}):(.*)$/s.exec(cursor)
  return match === null
    ? Effect.fail(new InvalidCursor({ cursor }))
    : Effect.succeed({ createdAt: Number(match[1]), id: match[2] as string })
}

/** The most writes of one kind (creates, finishes, heartbeats) that one statement carries; more wait for the next. */
const maxBatchSize = 256

/** A batch's executor that runs a batch of one `alone`, as a single-row statement, and a larger one with `many`. */
const aloneOr =
  <A, B, E>(
    alone: (item: A) => Effect.Effect<B, E | StoreError>,
    many: (batch: ReadonlyArray<A>) => Effect.Effect<Outcomes<B, E>, StoreError>
  ) =>
  (batch: ReadonlyArray<A>): Effect.Effect<Outcomes<B, E>, StoreError> =>
    batch.length === 1 ? Effect.map(Effect.exit(alone(batch[0] as A)), (exit) => [exit]) : many(batch)

/** Builds the task store over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db
  const driver = yield* Driver
  // Absent when a `Db` comes without it (built by hand): workers then wait out their poll interval.
  const notifications = yield* Effect.serviceOption(Notifications)
  // On a server, a write notifies with a statement of its own once it has committed (see `Notifications`); otherwise
  // (PGlite) the writing statement itself notifies, from its RETURNING list.
  const notifyAfter = Option.flatMap(notifications, (n) => n.notifyAfter)
  const inStatement = Option.isNone(notifyAfter)
  /** After a write that changed `rows`: the wake-up for a task runnable at `runAt`, if it is sent apart. */
  const notified = (rows: ReadonlyArray<unknown>, runAt: number | undefined) =>
    rows.length === 0 || Option.isNone(notifyAfter) ? Effect.void : notifyAfter.value(runAt)

  const waking = inStatement ? returnedNotifying : returnedNamed
  const wakingWhenDue = inStatement ? returnedNotifyingWhenDue : returnedNamed

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
  const insertStatement = driver.prepare(
    "create",
    db
      .insert(tasks)
      .values({ ...newTask, status: "pending", runAt: sql.placeholder("runAt"), fencingToken: 0 })
      // No conflict target, as in the batched create: a taken id or idempotency key inserts nothing, whichever form
      // the unique index on keys has (partial since migration 0003). ON CONFLICT waits for a concurrent insert of
      // the same key to commit, so the read that follows sees it.
      .onConflictDoNothing()
      .returning(waking)
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

  const byId = driver.prepare(
    "get",
    db
      .select(returnedNamed)
      .from(tasks)
      .where(eq(tasks.id, sql.placeholder("id")))
  )

  // A suspended task without runAt waits for a wake (a signal, a resume); a pending one may have none; a running
  // one whose lease expired lost its worker.
  const isRunnable = or(
    and(eq(tasks.status, "pending"), or(isNull(tasks.runAt), lte(tasks.runAt, sql.placeholder("now")))),
    and(eq(tasks.status, "suspended"), lte(tasks.runAt, sql.placeholder("now"))),
    and(eq(tasks.status, "running"), lt(tasks.leaseExpiresAt, sql.placeholder("now")))
  )

  // A task whose cancel or pause another process asked for (`requestCancel`, `requestPause`) is not claimed: it ends
  // cancelled, or is paused (a claim of it answers `None`).
  const claimStatement = driver.prepare(
    "claim",
    db
      .update(tasks)
      .set(
        claimedUnlessAsked(
          sql`${param("owner")}::text`,
          sql`${param("expiresAt")}::bigint`,
          sql`${param("now")}::bigint`
        )
      )
      .where(and(eq(tasks.id, sql.placeholder("id")), isRunnable))
      .returning(returnedNamed)
  )

  const runnableStatement = driver.prepare(
    "listRunnable",
    db
      .select(returnedNamed)
      .from(tasks)
      // the names come as a JSON array, not a text[] parameter: postgres.js writes an array only after fetching the
      // server's array types (`fetch_types`), which the stores turn off (see PostgresDb.ts)
      .where(
        and(
          sql`${tasks.name} = any(array(select jsonb_array_elements_text(${sql.placeholder("names")}::text::jsonb)))`,
          isRunnable
        )
      )
      .orderBy(
        sql`case when ${tasks.status} = 'running' then ${tasks.leaseExpiresAt} else coalesce(${tasks.runAt}, ${tasks.createdAt}) end`,
        tasks.createdAt,
        tasks.id
      )
      .limit(sql.placeholder("limit"))
  )

  const released = { leaseOwner: null, leaseExpiresAt: null, updatedAt: param("now") }
  const isHeld = and(
    eq(tasks.id, sql.placeholder("id")),
    eq(tasks.status, "running"),
    eq(tasks.fencingToken, sql.placeholder("token"))
  )
  // An ended attempt leaves no pause request behind: it was applied (below), or is moot.
  const fenced = (set: PgUpdateSetSource<typeof tasks>, returning = returnedNamed) =>
    driver.prepare(
      "finish",
      db
        .update(tasks)
        .set({ ...released, pauseRequested: false, ...set })
        .where(isHeld)
        .returning(returning)
    )
  const ended = { runAt: null, suspendReason: null, finishedAt: param("now") }

  const completeStatement = fenced({ ...ended, status: "completed", output: jsonb("output") })
  const failStatement = fenced({ ...ended, status: "failed", error: jsonb("error") })
  const cancelStatement = fenced({ ...ended, status: "cancelled" })
  // A suspension or requeue of a task whose cancel or pause another process asked for ends it cancelled, or pauses it.
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
    wakingWhenDue
  )
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
    inStatement ? returnedNotifyingWhenPending : returnedNamed
  )

  const heartbeatStatement = driver.prepare(
    "heartbeat",
    db
      .update(tasks)
      .set({ leaseExpiresAt: param("expiresAt"), updatedAt: param("now") })
      .where(isHeld)
      .returning({
        cancelRequested: sql`${tasks.cancelRequested}`.as("cancel_requested"),
        pauseRequested: sql`${tasks.pauseRequested}`.as("pause_requested")
      })
  )

  const requestCancelStatement = driver.prepare(
    "requestCancel",
    db
      .update(tasks)
      .set({ cancelRequested: true })
      .where(and(eq(tasks.id, sql.placeholder("id")), eq(tasks.status, "running")))
      .returning({ id: sql`${tasks.id}`.as("id") })
  )
  const withdrawPauseStatement = driver.prepare(
    "withdrawPause",
    db
      .update(tasks)
      .set({ pauseRequested: false })
      .where(
        and(
          eq(tasks.id, sql.placeholder("id")),
          inArray(tasks.status, ["running", "pending"]),
          eq(tasks.pauseRequested, true)
        )
      )
      .returning({ id: sql`${tasks.id}`.as("id") })
  )
  const requestPauseStatement = driver.prepare(
    "requestPause",
    db
      .update(tasks)
      .set({ pauseRequested: true })
      .where(and(eq(tasks.id, sql.placeholder("id")), eq(tasks.status, "running")))
      .returning({ id: sql`${tasks.id}`.as("id") })
  )

  const recoverOwnedStatement = driver.prepare(
    "recoverOwned",
    db
      .update(tasks)
      .set({ ...released, status: "pending" })
      .where(and(eq(tasks.status, "running"), eq(tasks.leaseOwner, sql.placeholder("owner"))))
      .returning(waking)
  )

  const wakeStatement = driver.prepare(
    "wake",
    db
      .update(tasks)
      .set({ runAt: param("now"), updatedAt: param("now") })
      .where(and(eq(tasks.id, sql.placeholder("id")), eq(tasks.status, "suspended")))
      .returning({ notified: (inStatement ? notifyWork(tasks.runAt) : sql<null>`null`).as("notified") })
  )

  const suspendIdleStatement = driver.prepare(
    "suspendIdle",
    db
      .update(tasks)
      // a pause asked of the task while it ran is done, or replaced by this suspension
      .set({
        status: "suspended",
        suspendReason: jsonb("reason"),
        runAt: null,
        pauseRequested: false,
        updatedAt: param("now")
      })
      .where(and(eq(tasks.id, sql.placeholder("id")), inArray(tasks.status, ["pending", "suspended"])))
      .returning(returnedNamed)
  )

  const cancelIdleStatement = driver.prepare(
    "cancelIdle",
    db
      .update(tasks)
      .set({ ...released, ...ended, status: "cancelled" })
      .where(and(eq(tasks.id, sql.placeholder("id")), inArray(tasks.status, ["pending", "suspended"])))
      .returning(returnedNamed)
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
    return yield* new StoreError({
      operation: "create",
      cause: new Error(`task ${task.id}: not inserted (its id is taken), and no task holds its idempotency key`)
    })
  })

  const get = (id: string) => Effect.flatMap(byId({ id }), firstRecord("get"))

  const list = Effect.fn("PgTaskStore.list")(function* (query: TaskQuery) {
    const limit = Math.max(1, Math.min(query.limit ?? 100, 1000))
    const after = query.cursor === undefined ? undefined : yield* parseCursor(query.cursor)
    const rows = yield* attempt("list", () =>
      db
        .select(returned)
        .from(tasks)
        .where(
          and(
            query.status === undefined ? undefined : eq(tasks.status, query.status),
            query.name === undefined ? undefined : eq(tasks.name, query.name),
            query.sessionId === undefined ? undefined : eq(tasks.sessionId, query.sessionId),
            query.parentId === undefined ? undefined : eq(tasks.parentId, query.parentId),
            after === undefined ? undefined : sql`(${tasks.createdAt}, ${tasks.id}) > (${after.createdAt}, ${after.id})`
          )
        )
        .orderBy(tasks.createdAt, tasks.id)
        .limit(limit + 1)
    )
    const items = yield* Effect.forEach(rows.slice(0, limit), toRecord("list"))
    const last = items.at(-1)
    return {
      items,
      nextCursor: rows.length > limit && last !== undefined ? cursorOf(last) : undefined
    } satisfies TaskPage
  })

  const claimAlone = ({ id, owner, expiresAt, now }: Claiming) =>
    Effect.flatMap(claimStatement({ id, owner, expiresAt, now }), firstRecord("claim"))

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
          .where(
            and(
              eq(tasks.id, id),
              or(
                and(eq(tasks.status, "pending"), or(isNull(tasks.runAt), lte(tasks.runAt, now))),
                and(eq(tasks.status, "suspended"), lte(tasks.runAt, now)),
                and(eq(tasks.status, "running"), lt(tasks.leaseExpiresAt, now))
              )
            )
          )
          .returning(returned)
      })
    ).pipe(Effect.flatMap(firstRecord("claim")))

  const claim = Effect.fnUntraced(function* (id: string, lease: Lease) {
    const now = yield* Clock.currentTimeMillis
    const claimed = yield* lease.maxParallel === undefined || !Number.isFinite(lease.maxParallel)
      ? claimBatched({ id, owner: lease.owner, expiresAt: lease.expiresAt, now })
      : claimLimited(id, lease, lease.maxParallel, now)
    // ended cancelled instead, as another process had asked
    return Option.filter(claimed, (record) => record.status === "running")
  })

  const listRunnable = Effect.fnUntraced(function* (query: RunnableQuery) {
    if (query.names.length === 0 || query.limit <= 0) return []
    const now = yield* Clock.currentTimeMillis
    const rows = yield* runnableStatement({ names: JSON.stringify(query.names), limit: query.limit, now })
    return yield* Effect.forEach(rows, toRecord("listRunnable"))
  })

  const heartbeatAlone = Effect.fnUntraced(function* ({ id, token, expiresAt, now }: Renewal) {
    const rows = yield* heartbeatStatement({ id, token, expiresAt, now })
    if (rows.length === 0) return yield* new LeaseLost({ taskId: id, token })
    if (rows[0]?.cancel_requested === true) return yield* new CancelRequested({ taskId: id })
    if (rows[0]?.pause_requested === true) return yield* new PauseRequested({ taskId: id })
  })

  // A request is also sent to the processes listening (`requests`), once it is stored.
  const requested = (id: string, rows: Rows) =>
    rows.length === 0 ? Effect.succeed(false) : Effect.as(announceRequest(id), true)
  const requestCancel = (id: string) => Effect.flatMap(requestCancelStatement({ id }), (rows) => requested(id, rows))
  const requestPause = (id: string) => Effect.flatMap(requestPauseStatement({ id }), (rows) => requested(id, rows))
  const withdrawPause = (id: string) => Effect.map(withdrawPauseStatement({ id }), (rows) => rows.length > 0)

  const runTransition = (id: string, token: number, transition: Transition, now: number) => {
    const held = { id, token, now }
    switch (transition._tag) {
      case "Completed":
        return completeStatement({ ...held, output: jsonText(transition.output) })
      case "Failed":
        return failStatement({ ...held, error: jsonText(transition.error) })
      case "Cancelled":
        return cancelStatement(held)
      case "Suspended":
        return suspendStatement({
          ...held,
          reason: jsonText(transition.reason),
          runAt: transition.runAt ?? null
        })
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
    // a retry or a timed suspension wakes workers, unless it was recorded cancelled or paused instead
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

  const batches = makeTaskBatches({ db, driver, notifyAfter })
  const createBatched = yield* makeBatcher({ maxSize: maxBatchSize, execute: aloneOr(createAlone, batches.create) })
  const finishBatched = yield* makeBatcher({ maxSize: maxBatchSize, execute: aloneOr(finishAlone, batches.finish) })
  // A worker starts a driver per task it found, and each claims at once: their claims go as one statement.
  const claimBatched = yield* makeBatcher({ maxSize: maxBatchSize, execute: aloneOr(claimAlone, batches.claim) })
  const heartbeatBatched = yield* makeBatcher({
    maxSize: maxBatchSize,
    execute: aloneOr(heartbeatAlone, batches.heartbeat)
  })

  // The per-task operations go untraced: a span costs about as much as a PGlite round trip, and the runtime's own
  // spans already frame each call.
  const create = (task: NewTask) => Effect.flatMap(Clock.currentTimeMillis, (now) => createBatched({ task, now }))

  const heartbeat = (id: string, token: number, expiresAt: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => heartbeatBatched({ id, token, expiresAt, now }))

  const finish = (id: string, token: number, transition: Transition) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => finishBatched({ id, token, transition, now }))

  const recoverOwned = Effect.fn("PgTaskStore.recoverOwned")(function* (owner: string) {
    const now = yield* Clock.currentTimeMillis
    const rows = yield* recoverOwnedStatement({ owner, now })
    yield* notified(rows, undefined)
    return yield* Effect.forEach(rows, toRecord("recoverOwned"))
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

  const announceRequest = (id: string) =>
    Option.isSome(notifications) ? notifications.value.announceRequest(id) : Effect.void
  const requests = Option.match(notifications, {
    onNone: () => Stream.never,
    onSome: (notifications) => notifications.requests
  })

  const awaitWork = Option.match(notifications, {
    onNone: () => (maxWaitMillis: number) => Effect.sleep(Math.max(0, maxWaitMillis)),
    onSome: (notifications) => notifications.awaitWork
  })

  return TaskStore.of({
    awaitWork,
    create,
    get,
    list,
    claim,
    listRunnable,
    heartbeat,
    requestCancel,
    requestPause,
    withdrawPause,
    requests,
    finish,
    recoverOwned,
    wake,
    suspendIdle,
    cancelIdle
  })
})

/** The task store over the shared `Db`. */
export const layer: Layer.Layer<TaskStore, never, Db | Driver> = Layer.effect(TaskStore, make)
