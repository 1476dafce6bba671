/**
 * `create`: one INSERT, pending (waking workers), already claimed under a lease, or queued behind its siblings (a child
 * that a sibling's end starts). A taken id, idempotency key or (parent, child key) inserts nothing; a key already used
 * then reads the task that holds it. Concurrent creates go as one INSERT (`batch.ts`), each caller getting its own task.
 */

import { Clock, Effect, Exit, Option } from "effect"
import { type StoreError, TaskIdTaken } from "../../../errors.ts"
import { canonicalJson } from "../../../SnapshotStore.ts"
import type { TaskRecord } from "../../../TaskRecord.ts"
import type { NewTask } from "../../../TaskStore.ts"
import type { Statement } from "../../Driver.ts"
import { tasks } from "../../schema.ts"
import { and, eq, type SQL, sql } from "../drizzle.ts"
import { batched, json, r, rowsOf, wrapped } from "./batch.ts"
import type { TaskContext } from "./context.ts"
import { firstRecord, jsonb, jsonText, nextFencingToken, returnedNamed, returnedWaking, toRecord } from "./rows.ts"

/** A `create` waiting for its batch, with the time it was asked at. */
interface Creation {
  readonly task: NewTask
  readonly now: number
}

/** A child's key, which counts only with a parent. */
const childKeyOf = (task: NewTask): string | undefined => (task.parentId === undefined ? undefined : task.childKey)

/** Whether the task is created queued behind its siblings: only a child is, and then without a lease. */
const isQueued = (task: NewTask): boolean => task.queued === true && task.parentId !== undefined

/** Whether the child's end starts a queued sibling: one of a bounded fan-out (a queued child is one). */
const isBounded = (task: NewTask): boolean =>
  task.parentId !== undefined && (task.bounded === true || task.queued === true)

/** Whether the child is counted in its parent's next wait from its create (see `awaitedGen` below). */
const isAwaited = (task: NewTask): boolean => task.awaited === true && task.parentId !== undefined

/** The lease a task is created under, if any: a queued child has none, whatever it was given. */
const leaseOf = (task: NewTask) => (isQueued(task) ? undefined : task.lease)

/**
 * Whether a stored task is the row this creation wrote: an INSERT that committed, whose reply was lost with its
 * connection, and that ran again (`attempt.ts`) finds its own row holding the id. The same name, input, parent,
 * session and creation time (the time the create was asked at, the same for each of its tries).
 */
const isOwnRow = ({ task, now }: Creation, record: TaskRecord): boolean =>
  record.createdAt === now &&
  record.name === task.name &&
  record.parentId === task.parentId &&
  record.sessionId === task.sessionId &&
  canonicalJson(record.input as never) === canonicalJson(task.input as never)

/** A creation as a row of the batched INSERT (absent fields read as SQL NULL). */
const creationRow = ({ task, now }: Creation) => {
  const lease = leaseOf(task)
  return {
    id: task.id,
    name: task.name,
    input: wrapped(task.input),
    session_id: task.sessionId,
    parent_id: task.parentId,
    child_key: childKeyOf(task),
    idempotency_key: task.idempotencyKey,
    queued: isQueued(task),
    now,
    // not combined with a lease: a task created claimed has no due time
    run_at: lease === undefined ? task.runAt : undefined,
    owner: lease?.owner,
    expires_at: lease?.expiresAt,
    deadline: task.deadline,
    bounded: isBounded(task),
    awaited: isAwaited(task),
    trace: wrapped(task.trace)
  }
}

/** A (parent, child key) pair as one text, to key maps by. */
const pairOf = (parentId: unknown, childKey: unknown): string => JSON.stringify([parentId, childKey])

/** The reason of a queued child, as jsonb. */
const queuedReason = sql`'{"_tag":"QueuedBehindSiblings"}'::jsonb`

/**
 * A child its parent's next wait names is marked with that wait's generation as it is created: the wait then only
 * locks it (awaitChildren.ts), where marking 10 000 children as the wait starts rewrote each one's row. The parent's
 * row is read under a share lock, which a wait holding the parent waits for (and which waits for a wait): a child is
 * either committed before the wait reads the children, or marked for the next wait.
 */
const awaitedGen = (awaited: SQL, parentId: SQL) =>
  sql`case when ${awaited} then (select parent.wait_gen + 1 from ${tasks} as parent where parent.id = ${parentId} for share) end`

export const makeCreate = ({ db, driver, inStatement, notified, notifiedPerDueTime }: TaskContext) =>
  Effect.gen(function* () {
    const newTask = {
      id: sql.placeholder("id"),
      name: sql.placeholder("name"),
      input: jsonb("input"),
      attempt: 1,
      sessionId: sql.placeholder("sessionId"),
      parentId: sql.placeholder("parentId"),
      childKey: sql.placeholder("childKey"),
      idempotencyKey: sql.placeholder("idempotencyKey"),
      deadline: sql.placeholder("deadline"),
      bounded: sql`${sql.placeholder("bounded")}::boolean`,
      awaitedGen: awaitedGen(sql`${sql.placeholder("awaited")}::boolean`, sql`${sql.placeholder("parentId")}::text`),
      forkedFrom: jsonb("forkedFrom"),
      trace: jsonb("trace"),
      createdAt: sql.placeholder("now"),
      updatedAt: sql.placeholder("now")
    }
    // No conflict target, here and in the batch: a taken id, idempotency key or child key inserts nothing, whichever
    // form the unique indexes on keys have (partial since migration 0003). ON CONFLICT waits for a concurrent insert of
    // the same key to commit, so the read that follows sees it.
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
    // Queued behind its siblings: not runnable (a sibling's end releases it), so nobody is woken.
    const insertQueuedStatement = driver.prepare(
      "create",
      db
        .insert(tasks)
        .values({
          ...newTask,
          status: "suspended",
          suspendReason: queuedReason,
          runAt: sql.placeholder("runAt"),
          fencingToken: 0
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
    const byChildKey = driver.prepare(
      "create",
      db
        .select(returnedNamed)
        .from(tasks)
        .where(and(eq(tasks.parentId, sql.placeholder("parentId")), eq(tasks.childKey, sql.placeholder("childKey"))))
    )

    // A row with a lease is created already claimed, a queued one suspended: neither is runnable, so wakes nobody.
    const isLeased = sql`r.owner is not null`
    const newTaskOfRow = {
      id: r("id"),
      name: r("name"),
      input: json("input"),
      status: sql`case when r.queued then 'suspended' when ${isLeased} then 'running' else 'pending' end`,
      attempt: sql`1`,
      sessionId: r("session_id"),
      parentId: r("parent_id"),
      childKey: r("child_key"),
      idempotencyKey: r("idempotency_key"),
      output: sql`null`,
      error: sql`null`,
      suspendReason: sql`case when r.queued then ${queuedReason} end`,
      waitGen: sql`0`,
      waitingFor: sql`null::int`,
      awaitedGen: awaitedGen(sql`r.awaited`, sql`r.parent_id`),
      runAt: r("run_at"),
      leaseOwner: r("owner"),
      leaseExpiresAt: r("expires_at"),
      fencingToken: sql`case when ${isLeased} then ${nextFencingToken} else 0 end`,
      cancelRequested: sql`false`,
      pauseRequested: sql`false`,
      createdAt: r("now"),
      updatedAt: r("now"),
      startedAt: sql`case when ${isLeased} then r.now end`,
      finishedAt: sql`null`,
      deadline: r("deadline"),
      bounded: r("bounded"),
      // a forked task is created alone (`create` below)
      forkedFrom: sql`null::jsonb`,
      trace: json("trace")
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
                "id text, name text, input jsonb, session_id text, parent_id text, child_key text, idempotency_key text, queued boolean, now bigint, run_at bigint, owner text, expires_at bigint, deadline bigint, bounded boolean, awaited boolean, trace jsonb"
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
    const byIds = driver.prepare(
      "create",
      db
        .select(returnedNamed)
        .from(tasks)
        .where(sql`${tasks.id} in (select jsonb_array_elements_text(${sql.placeholder("keys")}::text::jsonb))`)
    )
    // (parent, key) pairs as a JSON array of [parentId, childKey]
    const byChildKeys = driver.prepare(
      "create",
      db
        .select(returnedNamed)
        .from(tasks)
        .where(
          sql`(${tasks.parentId}, ${tasks.childKey}) in (select k ->> 0, k ->> 1 from jsonb_array_elements(${sql.placeholder("keys")}::text::jsonb) as k)`
        )
    )

    const createAlone = Effect.fnUntraced(function* ({ task, now }: Creation) {
      const childKey = childKeyOf(task)
      const values = {
        id: task.id,
        name: task.name,
        input: jsonText(task.input),
        sessionId: task.sessionId ?? null,
        parentId: task.parentId ?? null,
        childKey: childKey ?? null,
        idempotencyKey: task.idempotencyKey ?? null,
        deadline: task.deadline ?? null,
        bounded: isBounded(task),
        awaited: isAwaited(task),
        forkedFrom: jsonText(task.forkedFrom),
        trace: jsonText(task.trace),
        now
      }
      const lease = leaseOf(task)
      const inserted = isQueued(task)
        ? yield* insertQueuedStatement({ ...values, runAt: task.runAt ?? null })
        : lease === undefined
          ? yield* insertStatement({ ...values, runAt: task.runAt ?? null })
          : yield* insertClaimedStatement({ ...values, owner: lease.owner, expiresAt: lease.expiresAt })
      if (lease === undefined && !isQueued(task)) yield* notified(inserted, task.runAt)
      const created = yield* firstRecord("create")(inserted)
      if (Option.isSome(created)) return created.value
      if (task.idempotencyKey !== undefined) {
        const existing = yield* Effect.flatMap(
          byIdempotencyKey({ idempotencyKey: task.idempotencyKey }),
          firstRecord("create")
        )
        if (Option.isSome(existing)) return existing.value
      }
      if (childKey !== undefined) {
        const existing = yield* Effect.flatMap(
          byChildKey({ parentId: task.parentId ?? null, childKey }),
          firstRecord("create")
        )
        if (Option.isSome(existing)) return existing.value
      }
      // not inserted, and no task holds its keys: the id is taken (the only other unique column), maybe by this very
      // create, whose INSERT committed and whose reply was lost with its connection before it ran again
      const holder = yield* Effect.flatMap(byIds({ keys: JSON.stringify([task.id]) }), firstRecord("create"))
      if (Option.isSome(holder) && isOwnRow({ task, now }, holder.value)) return holder.value
      return yield* new TaskIdTaken({ taskId: task.id })
    })

    /**
     * The tasks holding `keys` (each key's JSON value, by the text `keyOf` gives a row), read by `read` in one
     * statement; a read that fails is the outcome of each of its keys.
     */
    const holders = Effect.fnUntraced(function* (
      keys: ReadonlyMap<string, unknown>,
      read: Statement,
      keyOf: (row: Record<string, unknown>) => string
    ) {
      const found = new Map<string, Exit.Exit<TaskRecord, StoreError>>()
      if (keys.size === 0) return found
      const rows = yield* Effect.exit(read({ keys: JSON.stringify([...keys.values()]) }))
      if (Exit.isFailure(rows)) for (const key of keys.keys()) found.set(key, Exit.failCause(rows.cause))
      else for (const row of rows.value) found.set(keyOf(row), toRecord("create")(row))
      return found
    })

    /**
     * One INSERT, then, for the creations whose row was skipped and that carry an idempotency key or a child key, one
     * read of the tasks holding their keys (of each kind). Only the INSERT's failure fails the batch: once it has
     * committed, a failure belongs to the creations it concerns.
     */
    const createBatch = Effect.fnUntraced(function* (batch: ReadonlyArray<Creation>) {
      const rows = yield* insertBatchStatement({ rows: JSON.stringify(batch.map(creationRow)) })
      yield* notifiedPerDueTime(rows, (row) => row.status === "pending")
      const outcomes: Array<Exit.Exit<TaskRecord, StoreError | TaskIdTaken> | undefined> = batch.map(() => undefined)
      // A row is the task of the first creation of its id and keys: of two creations of one id, the database inserted
      // the first and skipped the other.
      const byId = new Map<unknown, Array<number>>()
      for (let i = 0; i < batch.length; i++) {
        const id = (batch[i] as Creation).task.id
        const same = byId.get(id)
        if (same === undefined) byId.set(id, [i])
        else same.push(i)
      }
      const isOf = (i: number, row: Record<string, unknown>) => {
        const task = batch[i]?.task
        return (
          task !== undefined &&
          (task.idempotencyKey ?? null) === row.idempotencyKey &&
          (childKeyOf(task) ?? null) === row.childKey
        )
      }
      for (const row of rows) {
        const at = byId.get(row.id)?.find((i) => outcomes[i] === undefined && isOf(i, row))
        if (at !== undefined) outcomes[at] = toRecord("create")(row)
      }
      const idempotencyKeys = new Map<string, unknown>()
      const childKeys = new Map<string, unknown>()
      for (const [i, { task }] of batch.entries()) {
        if (outcomes[i] !== undefined) continue
        if (task.idempotencyKey !== undefined) idempotencyKeys.set(task.idempotencyKey, task.idempotencyKey)
        const childKey = childKeyOf(task)
        if (childKey !== undefined) childKeys.set(pairOf(task.parentId, childKey), [task.parentId, childKey])
      }
      const byKey = yield* holders(idempotencyKeys, byIdempotencyKeys, (row) => String(row.idempotencyKey))
      const byChild = yield* holders(childKeys, byChildKeys, (row) => pairOf(row.parentId, row.childKey))
      const found = batch.map(({ task }, i) => {
        const childKey = childKeyOf(task)
        return (
          outcomes[i] ??
          (task.idempotencyKey === undefined ? undefined : byKey.get(task.idempotencyKey)) ??
          (childKey === undefined ? undefined : byChild.get(pairOf(task.parentId, childKey)))
        )
      })
      // the ids taken, maybe by these very creates (see createAlone); an id asked twice in the batch is not
      const ids = new Map<string, unknown>()
      for (const [i, { task }] of batch.entries()) {
        if (found[i] === undefined && byId.get(task.id)?.length === 1) ids.set(task.id, task.id)
      }
      const byOwnId = yield* holders(ids, byIds, (row) => String(row.id))
      return batch.map((creation, i) => {
        const own = byOwnId.get(creation.task.id)
        return (
          found[i] ??
          (own !== undefined && Exit.isSuccess(own) && isOwnRow(creation, own.value) ? own : undefined) ??
          Exit.fail(new TaskIdTaken({ taskId: creation.task.id }))
        )
      })
    })

    const createBatched = yield* batched(createAlone, createBatch)
    // A forked task (rare: a fork writes its tree's tasks one by one) is created alone, so batches never carry it.
    return (task: NewTask) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        task.forkedFrom === undefined ? createBatched({ task, now }) : createAlone({ task, now })
      )
  })
