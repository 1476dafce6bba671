/**
 * The tables of the PostgreSQL stores, all in the `waypoint` schema. Columns mirror the store contracts
 * (`TaskRecord`, `StateEntry`, step results, signals, snapshots, progress, stored bytes): snake_case in SQL,
 * camelCase here; times are epoch milliseconds from the runtime's `Clock`, JSON values are `jsonb`. Migrations are
 * generated from this file by `npx drizzle-kit generate`.
 */

import type { TaskStatus } from "../TaskRecord.ts"
import {
  bigint,
  bigserial,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  isNotNull,
  jsonb,
  pgSchema,
  primaryKey,
  sql,
  text,
  uniqueIndex,
  uuid
} from "./internal/drizzle.ts"

export const waypoint = pgSchema("waypoint")

/** Fencing tokens: every claim takes the next value, so tokens grow across processes. */
export const fencingTokens = waypoint.sequence("fencing_tokens")

export const tasks = waypoint.table(
  "tasks",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    input: jsonb("input").notNull(),
    status: text("status").$type<TaskStatus>().notNull(),
    attempt: integer("attempt").notNull(),
    sessionId: text("session_id"),
    parentId: text("parent_id"),
    // a child's key among its parent's children: a second create with the same parent and key finds the first child
    childKey: text("child_key"),
    idempotencyKey: text("idempotency_key"),
    output: jsonb("output"),
    error: jsonb("error"),
    // a wait for children keeps its mode and total here; `waiting_for` counts the children it still waits for
    suspendReason: jsonb("suspend_reason"),
    /**
     * A parent's wait generation: each `AwaitingChildren` takes the next, and the children it waits for carry it (marked
     * at their create by the join that waits for them, or by the wait).
     */
    waitGen: integer("wait_gen").notNull().default(0),
    /** A waiting parent's children that have not ended yet, counted down by each one's end (the migration's trigger). */
    waitingFor: integer("waiting_for"),
    /** On a child: the generation of its parent's wait that counts its end, if one does. */
    awaitedGen: integer("awaited_gen"),
    runAt: bigint("run_at", { mode: "number" }),
    leaseOwner: text("lease_owner"),
    leaseExpiresAt: bigint("lease_expires_at", { mode: "number" }),
    fencingToken: bigint("fencing_token", { mode: "number" }).notNull().default(0),
    // a cancel or a pause asked from a process that does not run the task: its holder hears of it by a notification or
    // at its next heartbeat
    cancelRequested: boolean("cancel_requested").notNull().default(false),
    pauseRequested: boolean("pause_requested").notNull().default(false),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    updatedAt: bigint("updated_at", { mode: "number" }).notNull(),
    startedAt: bigint("started_at", { mode: "number" }),
    finishedAt: bigint("finished_at", { mode: "number" }),
    // last, as the batched create's rows list the columns in the table's order (create.ts)
    deadline: bigint("deadline", { mode: "number" }),
    /** A child of a fan-out with a bound: its end starts its parent's oldest queued child (the trigger of 0011). */
    bounded: boolean("bounded").notNull().default(false),
    /** A task of a tree forked from a checkpoint: the task it continues, the checkpoint, and whether its input changed. */
    forkedFrom: jsonb("forked_from"),
    /** The task's trace context (`TaskTrace`): every attempt's span, in any process, continues its trace. */
    trace: jsonb("trace")
  },
  (t) => [
    // partial: most tasks have no key, and every insert (and every update that cannot be HOT) skips it for them
    uniqueIndex("tasks_idempotency_key_idx").on(t.idempotencyKey).where(isNotNull(t.idempotencyKey)),
    // claiming and `list({ status })`: runnable tasks are found by status, then by due time
    index("tasks_status_run_at_idx").on(t.status, t.runAt),
    // `list` pages in (created_at, id) order, with or without a filter
    index("tasks_created_at_idx").on(t.createdAt, t.id),
    index("tasks_name_idx").on(t.name, t.createdAt, t.id),
    // partial: most tasks have neither, and an update skips the indexes a row is not in
    index("tasks_session_id_idx").on(t.sessionId, t.createdAt, t.id).where(isNotNull(t.sessionId)),
    // A parent's children, unique by key (a child without one is in it too: NULLs are distinct), and the only index a
    // child's row is in beyond a top-level task's, as each costs each write of a fan-out's thousands of children: a
    // list of a parent's children in creation order sorts them, and the runtime reads them in no order (`children`).
    uniqueIndex("tasks_children_idx").on(t.parentId, t.childKey).where(isNotNull(t.parentId)),
    // partial: a parent's idle children only, oldest first, so that `claimChild` (pending) reads no ended child of a
    // fan-out of thousands
    index("tasks_idle_children_idx")
      .on(t.parentId, t.status, t.createdAt, t.id)
      .where(sql`${t.parentId} is not null and ${t.status} in ('pending', 'suspended')`),
    // partial: a parent's queued children, oldest first, exactly as a sibling's end asks for the next one (the trigger
    // of 0011), so that no plan walks the older tasks by creation instead (with 10 000 children queued, it did: a
    // bounded fan-out ran at 150 children/s)
    index("tasks_queued_children_idx")
      .on(t.parentId, t.createdAt, t.id)
      .where(sql`${t.status} = 'suspended' and ${t.suspendReason}->>'_tag' = 'QueuedBehindSiblings'`)
  ]
)

/** `StateStore` entries: one row per key of a scope; `version` grows by one with every write of the key. */
export const stateEntries = waypoint.table(
  "state_entries",
  {
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    value: jsonb("value").notNull(),
    expiresAt: bigint("expires_at", { mode: "number" }),
    version: integer("version").notNull()
  },
  // the primary key starts with the scope, so `getAll` and `clear` read one range of it
  (t) => [primaryKey({ columns: [t.scope, t.key] })]
)

/** `StepStore` results: the first value recorded under a task's step key, never overwritten. */
export const steps = waypoint.table(
  "steps",
  {
    taskId: text("task_id").notNull(),
    key: text("key").notNull(),
    value: jsonb("value").notNull()
  },
  (t) => [primaryKey({ columns: [t.taskId, t.key] })]
)

/** `StepStore` mailboxes: signals waiting to be received; `id` orders the signals of a name, oldest first. */
export const signals = waypoint.table(
  "signals",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    taskId: text("task_id").notNull(),
    name: text("name").notNull(),
    payload: jsonb("payload").notNull()
  },
  // receiving takes the lowest id of (task, name); counting reads the same range
  (t) => [index("signals_task_id_name_idx").on(t.taskId, t.name, t.id)]
)

/**
 * `SnapshotStore` history: one row per version of a task. The primary key `(task_id, version)` is what makes
 * concurrent saves take distinct versions, and its index serves `latest` (read backwards), `get` and `list`.
 */
export const snapshots = waypoint.table(
  "snapshots",
  {
    taskId: text("task_id").notNull(),
    version: integer("version").notNull(),
    id: uuid("id").notNull(),
    data: jsonb("data").notNull(),
    checkpoint: boolean("checkpoint").notNull(),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
    dataVersion: integer("data_version"),
    originTaskId: text("origin_task_id"),
    originVersion: integer("origin_version"),
    /**
     * SHA-256 (hex) of every other column (`snapshotChecksum` in SnapshotStore.ts), checked on every read. NULL only
     * on rows written before migration 0006, which are read unverified: their canonical form cannot be computed in SQL.
     */
    checksum: text("checksum"),
    /**
     * The size in bytes of the data's UTF-8 JSON text, written with it, so that a listing need not read the data. NULL
     * only on rows written before migration 0007, whose size a listing reads from their data.
     */
    dataSizeBytes: integer("data_size_bytes")
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.version] }),
    // partial: `checkpoints` reads only these, and most snapshots are not checkpoints
    index("snapshots_checkpoint_idx").on(t.taskId, t.version).where(sql`${t.checkpoint}`)
  ]
)

/** `ProgressStore` latest rows: one per task, merged by every write. */
export const progressLatest = waypoint.table("progress_latest", {
  taskId: text("task_id").primaryKey(),
  percent: doublePrecision("percent"),
  message: text("message"),
  status: text("status"),
  updatedAt: bigint("updated_at", { mode: "number" }).notNull()
})

/** `ProgressStore` log lines: `seq` comes from one sequence, so it grows with every line and is never reused. */
export const progressLogs = waypoint.table(
  "progress_logs",
  {
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    taskId: text("task_id").notNull(),
    level: text("level").notNull(),
    message: text("message").notNull(),
    data: jsonb("data"),
    at: bigint("at", { mode: "number" }).notNull()
  },
  // listing and trimming read one task's lines in seq order
  (t) => [index("progress_logs_task_id_seq_idx").on(t.taskId, t.seq)]
)

/**
 * Text compared byte by byte (collation "C"), whatever the database's default: keys sort by code point, and the
 * primary key's index serves `LIKE 'prefix%'`.
 */
const byteOrderedText = customType<{ data: string }>({ dataType: () => 'text collate "C"' })

/** Raw bytes, as both drivers pass them (`Uint8Array`; postgres.js gives a `Buffer`, which is one). */
const bytea = customType<{ data: Uint8Array }>({ dataType: () => "bytea" })

/** `StorageBackend` values: whole values by key. */
export const storageEntries = waypoint.table("storage_entries", {
  key: byteOrderedText("key").primaryKey(),
  value: bytea("value").notNull()
})

/** `BudgetStore` ledgers: one per task with a budget; a NULL limit is no limit. Costs in nano-dollars. */
export const budgets = waypoint.table("budgets", {
  ownerId: text("owner_id").primaryKey(),
  maxCalls: bigint("max_calls", { mode: "number" }),
  maxTokens: bigint("max_tokens", { mode: "number" }),
  maxCostNanos: bigint("max_cost_nanos", { mode: "number" }),
  calls: bigint("calls", { mode: "number" }).notNull().default(0),
  tokens: bigint("tokens", { mode: "number" }).notNull().default(0),
  costNanos: bigint("cost_nanos", { mode: "number" }).notNull().default(0),
  reservedCalls: bigint("reserved_calls", { mode: "number" }).notNull().default(0),
  reservedTokens: bigint("reserved_tokens", { mode: "number" }).notNull().default(0),
  reservedCostNanos: bigint("reserved_cost_nanos", { mode: "number" }).notNull().default(0)
})

/** `BudgetStore` reservations of calls in flight, each against the budgets of `owner_ids` (a JSON array of ids). */
export const budgetHolds = waypoint.table(
  "budget_holds",
  {
    taskId: text("task_id").notNull(),
    key: text("key").notNull(),
    ownerIds: jsonb("owner_ids").notNull(),
    calls: bigint("calls", { mode: "number" }).notNull(),
    tokens: bigint("tokens", { mode: "number" }).notNull(),
    costNanos: bigint("cost_nanos", { mode: "number" }).notNull()
  },
  (t) => [primaryKey({ columns: [t.taskId, t.key] })]
)

/** `RateLimitStore` keys: each key's state (`KeyState` as JSON), changed by compare-and-set on `version`. */
export const rateLimits = waypoint.table("rate_limits", {
  key: text("key").primaryKey(),
  state: jsonb("state").notNull(),
  version: bigint("version", { mode: "number" }).notNull()
})
