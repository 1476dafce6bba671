/**
 * The contract every task store implements: tasks are created `pending`, claimed with a lease and a fencing
 * token, and leave `running` by exactly one fenced transition. A write whose token is stale is refused, so two
 * attempts of one task never both record an outcome.
 */
import { Context, type Effect, type Option, type Schema, type Stream } from "effect"
import type { CancelRequested, InvalidCursor, LeaseLost, PauseRequested, StoreError, TaskIdTaken } from "./errors.ts"
import type {
  ChildWaitMode,
  ForkOrigin,
  StoredError,
  SuspendReason,
  TaskRecord,
  TaskStatus,
  TaskSummary,
  TaskTrace
} from "./TaskRecord.ts"

/** What `create` needs; the store fills in status, attempt, token and times. */
export interface NewTask {
  readonly id: string
  readonly name: string
  readonly input: Schema.Json
  readonly sessionId?: string | undefined
  readonly parentId?: string | undefined
  /**
   * With `parentId`: the child's key among that parent's children. A second `create` with the same parent and key
   * records nothing and returns the first task, unchanged (as an idempotency key does).
   */
  readonly childKey?: string | undefined
  /**
   * With `parentId`: created `suspended` (`QueuedBehindSiblings`), not runnable until a sibling ends, which makes the
   * oldest queued child of the parent runnable (a fan-out's concurrency bound, kept across processes).
   */
  readonly queued?: boolean | undefined
  /**
   * With `parentId`: a child of a fan-out with a concurrency bound, whose end starts the oldest queued child of its
   * parent (`queued` implies it). The end of a child without it (started alone, or in a fan-out without a bound)
   * starts none.
   */
  readonly bounded?: boolean | undefined
  /**
   * With `parentId`: created by a join that waits for it, so the parent's next `AwaitingChildren` names it, unless the
   * child has ended by then or the join returned without waiting. A store may count such a child in that next wait from
   * its create, rather than mark each child as the wait starts; the wait then leaves out one it does not name.
   */
  readonly awaited?: boolean | undefined
  readonly runAt?: number | undefined
  /** Kept on the record (`TaskRecord.deadline`): the runtime fails the task once it has passed. */
  readonly deadline?: number | undefined
  /** At most one task is ever created per key: a second `create` with the same key returns the first task. */
  readonly idempotencyKey?: string | undefined
  /**
   * Creates the task already claimed by this lease (`running`, a fresh fencing token, `startedAt` set), in the
   * same write: the creator runs it at once and saves the claim's round trip. Not combined with `runAt`.
   */
  readonly lease?: { readonly owner: string; readonly expiresAt: number } | undefined
  /** In a tree forked from a checkpoint: what the task was forked from (`TaskRecord.forkedFrom`). */
  readonly forkedFrom?: ForkOrigin | undefined
  /** Kept on the record (`TaskRecord.trace`): every attempt's span continues this trace. */
  readonly trace?: TaskTrace | undefined
}

/** How a running attempt ends. Written once, fenced by the attempt's token. */
export type Transition =
  | { readonly _tag: "Completed"; readonly output: Schema.Json }
  | { readonly _tag: "Failed"; readonly error: StoredError }
  | { readonly _tag: "Cancelled" }
  | { readonly _tag: "Suspended"; readonly reason: SuspendReason; readonly runAt?: number | undefined }
  /**
   * The body waits for children of its own (their ids): `suspended` (`WaitingForChildren`) until the wait ends as
   * `mode` says, which makes the task runnable at once, at the same attempt. A wait over before it starts (every child
   * has ended, or `all` meets one that did not complete, or `first` one that did) leaves the task runnable at once.
   */
  | {
      readonly _tag: "AwaitingChildren"
      readonly children: ReadonlyArray<string>
      readonly mode: ChildWaitMode
      /**
       * How many children the join names (the reason's `total`), when `children` leaves out those the runtime knows
       * have ended, as it ended them; `children.length` when absent.
       */
      readonly total?: number | undefined
      /** Runnable then, whether the wait is over or not (the task's deadline). */
      readonly runAt?: number | undefined
    }
  /** Back to `pending`: a retry (next attempt, maybe later) or a shutdown (same attempt). */
  | {
      readonly _tag: "Requeued"
      readonly attempt: number
      readonly runAt?: number | undefined
      readonly error?: StoredError | undefined
    }

/** How many children a wait's join names: its `total`, or every child it names when it gives none. */
export const waitTotal = (transition: Extract<Transition, { readonly _tag: "AwaitingChildren" }>): number =>
  transition.total ?? transition.children.length

/** A lease asked for by a claim. */
export interface Lease {
  readonly owner: string
  readonly expiresAt: number
  /**
   * At most this many tasks of the same name and session may hold a live lease at once, across every process
   * sharing the store; the claim is refused beyond. Default: no limit.
   */
  readonly maxParallel?: number | undefined
}

/** Which runnable tasks a worker looks for. */
export interface RunnableQuery {
  readonly names: ReadonlyArray<string>
  readonly limit: number
}

/** Filters and paging for `list`; `cursor` is the `nextCursor` of the previous page. */
export interface TaskQuery {
  readonly status?: TaskStatus | undefined
  readonly name?: string | undefined
  readonly sessionId?: string | undefined
  readonly parentId?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/** One page of tasks, oldest first. */
export interface TaskPage {
  readonly items: ReadonlyArray<TaskRecord>
  readonly nextCursor: string | undefined
}

/** One page of `listSummaries`: the tasks of a `TaskPage`, without their input and output. */
export interface TaskSummaryPage {
  readonly items: ReadonlyArray<TaskSummary>
  readonly nextCursor: string | undefined
}

export class TaskStore extends Context.Service<
  TaskStore,
  {
    /**
     * Records a new `pending` task at attempt 1. With an `idempotencyKey` already used, records nothing and
     * returns the task created with that key, unchanged; otherwise an id another task has fails with `TaskIdTaken`.
     */
    readonly create: (task: NewTask) => Effect.Effect<TaskRecord, StoreError | TaskIdTaken>
    readonly get: (id: string) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
    readonly list: (query: TaskQuery) => Effect.Effect<TaskPage, StoreError | InvalidCursor>
    /**
     * The page `list` gives (same filters, same cursors), each task without its input and output, which are not read:
     * a listing of large tasks costs what their other fields do.
     */
    readonly listSummaries: (query: TaskQuery) => Effect.Effect<TaskSummaryPage, StoreError | InvalidCursor>
    /**
     * Every child of `parentId`, in one read and in no particular order: a fan-in, a cancel of a subtree and a tree's
     * recovery each need all of them, and a store can then find them by parent alone, with no order to keep (`list`
     * with `parentId` pages them oldest first).
     */
    readonly children: (parentId: string) => Effect.Effect<ReadonlyArray<TaskRecord>, StoreError>
    /** `children`, each without its input and output, which are not read (as `listSummaries`). */
    readonly childSummaries: (parentId: string) => Effect.Effect<ReadonlyArray<TaskSummary>, StoreError>
    /**
     * Takes a runnable task to `running` under a new lease and a new, larger fencing token: `pending` (no `runAt`,
     * or one passed), `suspended` with `runAt` passed, or `running` with its lease expired (its worker died; the
     * attempt number stays). `None` when the task is not runnable now or `maxParallel` is reached; a store may also
     * answer `None` for a task that another write holds at that moment, rather than wait for it. A task whose cancel
     * was asked (`requestCancel`) is not claimed: it is recorded `cancelled`, and the answer is `None`; one whose pause
     * was asked (`requestPause`) is recorded `suspended` (`Paused`, until `wake`), and the answer is `None`. The
     * answer of a claim that starts the task for the first time (it had no `startedAt`) may say `firstClaim: true`; a
     * store that cannot tell leaves it out.
     */
    readonly claim: (id: string, lease: Lease) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
    /**
     * Returns once a task may have become runnable (created, requeued, woken, handed back), in any process sharing
     * the store, or after `maxWaitMillis`, whichever comes first. Workers wait here between two looks.
     */
    readonly awaitWork: (maxWaitMillis: number) => Effect.Effect<void, StoreError>
    /**
     * Claims, as `claim` does, the oldest runnable child of `parentId` among tasks of these names (a queued child that
     * a sibling's end released, for the runtime that drove the sibling); `None` when there is none.
     */
    readonly claimChild: (
      parentId: string,
      names: ReadonlyArray<string>,
      lease: Lease
    ) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
    /** Runnable tasks of these names (as `claim` defines it), the longest due first. Reads only. */
    readonly listRunnable: (query: RunnableQuery) => Effect.Effect<ReadonlyArray<TaskRecord>, StoreError>
    /**
     * Extends the lease of the attempt that holds `token`; `LeaseLost` if another attempt took the task. Fails with
     * `CancelRequested` (the lease extended all the same) once `requestCancel` has asked for the task's cancel, else
     * with `PauseRequested` once `requestPause` has asked for its pause.
     */
    readonly heartbeat: (
      id: string,
      token: number,
      expiresAt: number
    ) => Effect.Effect<void, StoreError | LeaseLost | CancelRequested | PauseRequested>
    /**
     * Asks whoever runs a `running` task to cancel it (a cancel from a process that does not run it): kept with the
     * task until it ends, whichever attempt holds it; the holder hears of it through `requests`, or at its next
     * `heartbeat`. `false`, and nothing kept, for a task in any other status.
     */
    readonly requestCancel: (id: string) => Effect.Effect<boolean, StoreError>
    /**
     * Asks whoever runs a `running` task to pause it, as `requestCancel` asks for a cancel (a cancel asked wins). Kept
     * until the task is paused or ends: the holder hears of it through `requests`, or at its next `heartbeat`; an
     * attempt that ends first
     * with a `Suspended` or `Requeued` transition is recorded paused instead, and a claim records it paused. `false`,
     * and nothing kept, for a task in any other status.
     */
    readonly requestPause: (id: string) => Effect.Effect<boolean, StoreError>
    /**
     * Withdraws a pause asked (`requestPause`) that nothing has carried out yet (a resume that came first), of a
     * `running` task or of one handed back `pending` (`recoverOwned`). `false` when none was pending. A holder that
     * has already heard of it may still pause the task.
     */
    readonly withdrawPause: (id: string) => Effect.Effect<boolean, StoreError>
    /**
     * The ids of tasks whose cancel or pause is asked (`requestCancel`, `requestPause`) from the subscription on, by
     * any process sharing the store: the holder acts on a request at once instead of at its next heartbeat. A
     * request missed (a listener reconnecting) is still heard at that heartbeat. Never fails. A store that cannot
     * push (a PostgreSQL `Db` built without its `Notifications`) never emits: heartbeats carry every request.
     */
    readonly requests: Stream.Stream<string>
    /**
     * Ends the running attempt that holds `token`. A stale token fails with `LeaseLost` and writes nothing. A
     * `Suspended`, `AwaitingChildren` or `Requeued` transition of a task whose cancel was asked (`requestCancel`)
     * records `cancelled`; of one whose pause was asked (`requestPause`), `suspended` (`Paused`, keeping a requeue's
     * attempt and error).
     *
     * The end of a child, by this or by any other write (`cancelIdle`, a claim that cancels), is its parent's news,
     * in the same write: a parent waiting for it (`AwaitingChildren`) counts it, and becomes runnable, exactly once,
     * when its wait ends; and, while the parent has not ended, the oldest of its queued children becomes runnable.
     */
    readonly finish: (
      id: string,
      token: number,
      transition: Transition
    ) => Effect.Effect<TaskRecord, StoreError | LeaseLost>
    /**
     * Hands back every task left `running` under `owner` (a runtime that restarted with the same identity after a
     * crash): each becomes `pending` at the same attempt, without its lease. Returns them.
     */
    readonly recoverOwned: (owner: string) => Effect.Effect<ReadonlyArray<TaskRecord>, StoreError>
    /** Makes a `suspended` task runnable now (a signal arrived). Does nothing to a task in any other status. */
    readonly wake: (id: string) => Effect.Effect<void, StoreError>
    /**
     * Suspends a task that is not running (`pending` or `suspended`) for `reason`, with no `runAt`: it stays
     * suspended until `wake`. `None` if it is running or has ended.
     */
    readonly suspendIdle: (id: string, reason: SuspendReason) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
    /** Cancels a task that is not running (`pending` or `suspended`); `None` if it is running or has ended. */
    readonly cancelIdle: (id: string) => Effect.Effect<Option.Option<TaskRecord>, StoreError>
  }
>()("waypoint/stores/TaskStore") {}
