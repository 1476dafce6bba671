/**
 * What every part of a runtime shares: its identity, the store, the Scope its fibers live in, the context task bodies
 * and hooks run with, its events, and its live tasks. Made once by `Runtime.make` and handed to each part.
 */
import { type Context, Duration, Effect, Option, type Scope } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import type { TaskStore } from "../../stores/TaskStore.ts"
import { TaskNotFound } from "../errors.ts"
import type { TaskEvents } from "../TaskEvents.ts"
import { type LiveTasks, makeLiveTasks } from "./LiveTask.ts"
import { isTracing } from "./tracing.ts"

export interface Core {
  readonly runtimeId: string
  readonly store: TaskStore["Service"]
  /** Where the runtime's own fibers live: drivers of submitted tasks, heartbeats, the worker. */
  readonly scope: Scope.Scope
  /** The runtime's context: the stores and what its plugins need. */
  readonly context: Context.Context<unknown>
  /** Whether its tasks make spans (`isTracing`): decided once, from the context it was built with. */
  readonly isTracing: boolean
  readonly events: TaskEvents["Service"]
  readonly live: LiveTasks
  /**
   * Parents with children queued behind their siblings: when a child of one ends here, this runtime claims the child
   * its end released (`claimChild`), so a fan-out goes on without a worker.
   */
  readonly queuedParents: Set<string>
  /**
   * The ended children, by key, of parents driven here, as the writes of this runtime that ended them returned them:
   * a parent's next run reads them here instead of from the store when every child it names is here (an ended
   * record does not change), and a join takes those that ended while it created their siblings. Dropped when the
   * parent's driver lets go of it.
   */
  readonly endedChildren: Map<string, Map<string, TaskRecord>>
  /** What the drivers do when a write of this runtime ended a child (set once the drivers are made). */
  readonly hooks: { childEnded: (child: TaskRecord) => Effect.Effect<void> }
  /** How long a claim holds a task without a heartbeat. */
  readonly leaseMillis: number
  /** How long a cancelled running body may take to stop by itself. */
  readonly graceMillis: number
  /** How often a task that runs elsewhere is looked at again. */
  readonly pollMillis: number
  /** Publishes a record's status at once (publishing never waits). */
  readonly publishNow: (record: TaskRecord) => void
  readonly publish: (record: TaskRecord) => Effect.Effect<void>
  readonly readRecord: (id: string) => Effect.Effect<TaskRecord, TaskNotFound | StoreError>
}

export interface CoreOptions {
  readonly runtimeId: string
  readonly store: TaskStore["Service"]
  readonly scope: Scope.Scope
  readonly context: Context.Context<unknown>
  readonly events: TaskEvents["Service"]
  readonly leaseDuration: Duration.Input
  readonly cancelGracePeriod: Duration.Input
  readonly pollInterval: Duration.Input
}

export const makeCore = (options: CoreOptions): Core => {
  const { store, events } = options
  const publishNow = (record: TaskRecord) => {
    events.publishUnsafe({
      _tag: "StatusChanged",
      taskId: record.id,
      taskName: record.name,
      status: record.status,
      attempt: record.attempt,
      error: record.error,
      suspendReason: record.suspendReason,
      parentId: record.parentId
    })
  }
  return {
    runtimeId: options.runtimeId,
    store,
    scope: options.scope,
    context: options.context,
    isTracing: isTracing(options.context),
    events,
    live: makeLiveTasks(),
    queuedParents: new Set(),
    endedChildren: new Map(),
    hooks: { childEnded: () => Effect.void },
    leaseMillis: Duration.toMillis(options.leaseDuration),
    graceMillis: Duration.toMillis(options.cancelGracePeriod),
    pollMillis: Duration.toMillis(options.pollInterval),
    publishNow,
    publish: (record) => Effect.sync(() => publishNow(record)),
    readRecord: (id) =>
      Effect.flatMap(
        store.get(id),
        Option.match({ onNone: () => Effect.fail(new TaskNotFound({ taskId: id })), onSome: Effect.succeed })
      )
  }
}
