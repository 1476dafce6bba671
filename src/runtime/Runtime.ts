/**
 * The task runtime: runs task bodies as interruptible fibers supervised in its Scope, records every lifecycle
 * change in the `TaskStore`, and gives each execution `TaskInfo` plus what its plugins provide. `run` and `submit`
 * take one path: `enqueue` records the task, a driver (`internal/drive.ts`) claims it and executes attempts
 * (`internal/attempt.ts`), each of which records one outcome.
 */
import { Clock, type Context, Deferred, type Duration, Effect, Fiber, Layer, Scope, type Stream } from "effect"
import type { InvalidCursor, StoreError, TaskIdTaken } from "../stores/errors.ts"
import { StepStore } from "../stores/StepStore.ts"
import { byCreation, isTerminal, type TaskRecord } from "../stores/TaskRecord.ts"
import { type TaskPage, type TaskQuery, TaskStore } from "../stores/TaskStore.ts"
import {
  type IdempotencyKeyReused,
  type InvalidTaskInput,
  InvalidTransition,
  type MaxInstancesReached,
  type SignalRejected,
  type StoreMissing,
  type TaskNotFound,
  UnknownTask
} from "./errors.ts"
import { type Inspection, inspect } from "./Inspection.ts"
import { makeExecuteAttempt } from "./internal/attempt.ts"
import { makeBodyRunner } from "./internal/body.ts"
import { makeChildren } from "./internal/children.ts"
import { makeControl } from "./internal/control.ts"
import { makeCore } from "./internal/core.ts"
import { type Drivers, makeDrivers } from "./internal/drive.ts"
import { makeEnqueue } from "./internal/enqueue.ts"
import { makeHandles } from "./internal/handle.ts"
import { makeHookRunner } from "./internal/hooks.ts"
import { makeLeases } from "./internal/leases.ts"
import { type AnyTask, erase, makeRegistry } from "./internal/registry.ts"
import { makeSendSignal } from "./internal/signals.ts"
import { makeSlots } from "./internal/slots.ts"
import { Attribute, parentSpanOf, SpanName } from "./internal/tracing.ts"
import { unknownTaskWarning } from "./internal/tree.ts"
import { subscribeTree } from "./internal/treeEvents.ts"
import { runWorker, type WorkerOptions } from "./internal/worker.ts"
import type { AnyPlugin, ExecutionServices, PluginProvides, PluginRequires } from "./Plugin.ts"
import type { Session } from "./Session.ts"
import type { Task, TaskDefinition } from "./Task.ts"
import type { TaskEvent } from "./TaskEvent.ts"
import { type SubscribeOptions, TaskEvents } from "./TaskEvents.ts"
import type { TaskError, TaskHandle } from "./TaskHandle.ts"

export type { WorkerOptions } from "./internal/worker.ts"

/** Where and how to start a task. */
export interface SubmitOptions {
  /** The task's id; a fresh UUID by default. An id another task has fails with `TaskIdTaken`. */
  readonly id?: string | undefined
  /** The session the task belongs to; `maxParallel` counts per session. */
  readonly session?: string | undefined
  /** When `maxParallel` instances already run: wait for a slot (default) or fail with `MaxInstancesReached`. */
  readonly onLimit?: "wait" | "fail" | undefined
  /** A retried submit with the same key returns the task the first one created, and starts nothing new. */
  readonly idempotencyKey?: string | undefined
  /**
   * When the task must have ended: a `Date`, or how long from now (`"10 minutes"`). Past it, the attempt running is
   * interrupted and the task fails with `DeadlineExceeded`, without a retry; a task started by a task's body (a child)
   * gets its parent's deadline at the latest. A bad value fails with `InvalidTaskInput`.
   */
  readonly deadline?: Date | Duration.Input | undefined
}

/** `run` of a runtime whose plugins provide `P`: a task whose body needs no more than `P | TaskInfo`. */
export type RunTask<P, Options> = <I, O, E, R extends P | ExecutionServices>(
  task: Task<I, O, E, R>,
  input: NoInfer<I>,
  options?: Options
) => Effect.Effect<O, TaskError<E> | MaxInstancesReached | IdempotencyKeyReused | TaskIdTaken>

/** `submit` of a runtime whose plugins provide `P`. */
export type SubmitTask<P, Options> = <I, O, E, R extends P | ExecutionServices>(
  task: Task<I, O, E, R>,
  input: NoInfer<I>,
  options?: Options
) => Effect.Effect<
  TaskHandle<O, E>,
  InvalidTaskInput | MaxInstancesReached | IdempotencyKeyReused | TaskIdTaken | StoreError
>

/** A runtime whose plugins provide `P`: it runs every task whose body needs no more than `P | TaskInfo`. */
export interface Runtime<P> {
  /** This runtime's identity: the owner of the leases it takes. */
  readonly id: string
  /** Runs a task in a fiber of the caller and returns its output; the task is recorded like a submitted one. */
  readonly run: RunTask<P, SubmitOptions>
  /** Starts a task in the background and returns a handle on it. Bad input fails here and nothing is stored. */
  readonly submit: SubmitTask<P, SubmitOptions>
  /** A handle on an existing task of this definition, wherever it runs. */
  readonly handle: <I, O, E, R>(task: Task<I, O, E, R>, id: string) => TaskHandle<O, E>
  /**
   * Drives a stored, unfinished task in this runtime (after a restart, or for a task submitted elsewhere); a
   * suspended task (paused, waiting) is made runnable now. A running task whose pause was asked, and not carried out
   * yet, has that pause withdrawn.
   */
  readonly resume: (id: string) => Effect.Effect<void, TaskNotFound | UnknownTask | InvalidTransition | StoreError>
  /**
   * Pauses a task until `resume`: a running attempt is interrupted (finalizers run) and the task recorded
   * `suspended`; the body runs again from its start when resumed. A task running in another process is asked,
   * through the store, and paused by that process as soon as it hears of it (a notification, or its next
   * heartbeat); this returns once it is asked. Fails with `InvalidTransition` for a finished task, or one whose
   * status kept changing under three tries.
   */
  readonly pause: (id: string) => Effect.Effect<void, TaskNotFound | InvalidTransition | StoreError>
  /**
   * Takes back the tasks this runtime's identity left `running` (it crashed, and now runs again with the same
   * `id`) and drives them, without waiting for their leases to expire. Returns their ids; unknown task names
   * stay `pending` for a runtime that knows them.
   */
  readonly recover: Effect.Effect<ReadonlyArray<string>, StoreError>
  /**
   * Cancels a task and its unfinished child tasks (see `cancelGracePeriod` for a body that stops by itself).
   * Cancelling a finished task does nothing. Interrupting a caller of `run` is not a cancel: like a shutdown, it
   * hands the task back to the store. A task running in another process is asked, through the store, and cancelled
   * by that process as soon as it hears of it (a notification, or its next heartbeat, within a third of the lease's
   * duration); this returns once it is asked.
   */
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  readonly get: (id: string) => Effect.Effect<TaskRecord, TaskNotFound | StoreError>
  /** Why a task is where it is: running, lease expired, waiting for a signal, sleeping, queued behind its limit. */
  readonly inspect: (id: string) => Effect.Effect<Inspection, TaskNotFound | StoreError>
  readonly list: (query: TaskQuery) => Effect.Effect<TaskPage, StoreError | InvalidCursor>
  /**
   * Events of all the tasks this runtime drives, or of one (`taskId`), from the moment the stream is pulled; with
   * `after`, the kept events after that sequence number first (as far as the history keeps them).
   */
  readonly subscribe: (options?: SubscribeOptions) => Stream.Stream<TaskEvent>
  /** The kept events (of one task, after a sequence number), without waiting for more. */
  readonly history: (options?: SubscribeOptions) => Effect.Effect<ReadonlyArray<TaskEvent>>
  /**
   * Events of a run tree: of `rootId` and every task under it (a child started later too), as `subscribe` gives
   * them (with `after`, the kept events after that sequence number first). Fails with `TaskNotFound` for an unknown
   * root. Only the events of tasks this runtime drives are in its log.
   */
  readonly subscribeTree: (
    rootId: string,
    options?: { readonly after?: number | undefined }
  ) => Stream.Stream<TaskEvent, TaskNotFound | StoreError>
  /** A view of this runtime that submits into one session. */
  readonly session: (id: string) => Session<P>
  /**
   * Sends a signal to a task: kept in its durable mailbox until a `waitForSignal` of that name takes it, and
   * wakes the task if it is waiting for that signal (no other). A task that declares its `signals` refuses any
   * other name with `SignalRejected`, as it refuses a payload its Schema does not accept. Fails with
   * `StoreMissing` when the runtime's context has no `StepStore` (the mailbox).
   */
  readonly signal: (
    id: string,
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | StoreMissing | TaskNotFound | StoreError>
}

/** How to build a runtime. */
export interface RuntimeOptions<Plugins extends ReadonlyArray<AnyPlugin>> {
  readonly plugins?: Plugins | undefined
  /** Tasks this runtime can run when it finds them in the store (`resume`); `run`/`submit` add theirs. */
  readonly tasks?: ReadonlyArray<TaskDefinition> | undefined
  /** The identity written as lease owner; a fresh UUID by default. */
  readonly id?: string | undefined
  /** How many events a slow subscriber may lag behind before its oldest are dropped. Default 4 096. */
  readonly eventBufferSize?: number | undefined
  /** How many past events are kept for subscribers that resume after a sequence number. Default 10 000. */
  readonly eventHistory?: number | undefined
  /**
   * How long a cancelled running task may take to stop by itself (it sees `TaskInfo.shouldStop`) before it is
   * interrupted. A body that returns within it has completed: its output is recorded and handed to its waiters (a
   * graceful stop). One that fails, or is still running at the end of it, ends `cancelled`. Default: 0, interrupt at
   * once.
   */
  readonly cancelGracePeriod?: Duration.Input | undefined
  /**
   * How long a claim holds a task without a heartbeat; a running attempt renews it every third of this. A worker
   * that dies lets its tasks go after at most this long. Default: 30 seconds.
   */
  readonly leaseDuration?: Duration.Input | undefined
  /**
   * Makes this runtime a worker: it claims runnable tasks of its `tasks` from the store (submitted by any
   * process, due timers, expired leases) and runs up to `concurrency` attempts at once.
   */
  readonly worker?: WorkerOptions | undefined
  /** How often a handle on a task that runs elsewhere reads the store. Default: 1 second. */
  readonly pollInterval?: Duration.Input | undefined
  /**
   * Whether `submit` runs the task in this process (the default) or only records it `pending`, for the workers that
   * share the store to claim: a server that starts tasks it must not run sets `false`. Its handles read the store.
   * `run` always runs here.
   */
  readonly submitRunsHere?: boolean | undefined
}

/**
 * Builds a runtime in the current Scope: closing the Scope interrupts every running task and records it back
 * as `pending` at the same attempt, so another runtime can resume it.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function* () {
 *   const runtime = yield* Runtime.make({ plugins: [] })
 *   const handle = yield* runtime.submit(greet, { name: "Ada" })
 *   return yield* handle.await
 * }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
 * ```
 */
export const make = <const Plugins extends ReadonlyArray<AnyPlugin> = readonly []>(
  options: RuntimeOptions<Plugins> = {}
): Effect.Effect<
  Runtime<PluginProvides<Plugins[number]>>,
  never,
  Scope.Scope | TaskStore | Exclude<PluginRequires<Plugins[number]>, ExecutionServices>
> =>
  Effect.gen(function* () {
    const scope = yield* Scope.Scope
    const store = yield* TaskStore
    const plugins: ReadonlyArray<AnyPlugin> = options.plugins ?? []
    const context = (yield* Effect.context<TaskStore>()) as Context.Context<unknown>
    const events = yield* TaskEvents.make({
      bufferSize: options.eventBufferSize ?? 4096,
      history: options.eventHistory ?? 10_000
    })
    const core = makeCore({
      runtimeId: options.id ?? crypto.randomUUID(),
      store,
      scope,
      context,
      events,
      leaseDuration: options.leaseDuration ?? "30 seconds",
      cancelGracePeriod: options.cancelGracePeriod ?? 0,
      pollInterval: options.pollInterval ?? "1 second"
    })
    const registry = makeRegistry(options.tasks ?? [])
    const slots = makeSlots()
    const control = makeControl(core)
    const leases = makeLeases(core, control)
    const pluginLayer =
      plugins.length === 0
        ? undefined
        : Layer.mergeAll(...(plugins.map((p) => p.layer) as [Layer.Layer<never, never, unknown>]))
    const hooks = makeHookRunner(
      plugins.flatMap((p) => (p.hooks === undefined ? [] : [p.hooks])),
      context
    )
    const enqueue = makeEnqueue(core, registry, slots)
    const childrenOf = makeChildren({ core, enqueue, drivers: () => drivers, control })
    const executeAttempt = makeExecuteAttempt(
      core,
      makeBodyRunner(core, pluginLayer, childrenOf),
      hooks,
      control,
      leases
    )
    const drivers: Drivers = makeDrivers(core, slots, executeAttempt, registry, control)
    core.hooks.childEnded = drivers.childEnded
    const signal = makeSendSignal(core, registry, yield* Effect.serviceOption(StepStore), control, (task, id) =>
      drivers.startDetached(task, id, {})
    )
    const handle = makeHandles({
      events,
      readRecord: core.readRecord,
      waiterOf: (id) => core.live.get(id)?.waiter,
      cancel: control.cancel,
      signal,
      pollInterval: core.pollMillis
    })

    // A task created is driven whatever comes: a caller interrupted between the two (a timeout around `submit`)
    // would leave it created, and, claimed at its create, `running` with nobody executing it.
    const submitRunsHere = options.submitRunsHere !== false
    const submit = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      submitRunsHere ? submitHere(task, input, opts) : submitToWorkers(task, input, opts)

    // Recorded `pending` and left to the workers: no claim, no slot of this process, no driver.
    const submitToWorkers = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      Effect.map(enqueue(task, input, { ...opts, onLimit: undefined, claim: false }), ({ record }) =>
        handle(task, record.id, undefined)
      )

    const submitHere = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      Effect.uninterruptible(
        Effect.flatMap(enqueue(task, input, opts), ({ record, slotHeld, from }) =>
          Effect.map(drivers.start(task, record.id, slotHeld, from), (waiter) => handle(task, record.id, waiter))
        )
      )

    const run = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(enqueue(task, input, opts), ({ record, slotHeld, from }) =>
          Effect.flatMap(drivers.runHere(task, record.id, slotHeld, from), ({ waiter, driver }) =>
            // The caller giving up on a direct run (a shutdown, a timeout around it) stops its driver, which hands the
            // task back to the store as a shutdown does; only an explicit cancel cancels.
            restore(Deferred.await(waiter)).pipe(
              Effect.onInterrupt(() => (driver === undefined ? Effect.void : Fiber.interrupt(driver)))
            )
          )
        )
      )

    const resume = Effect.fnUntraced(function* (id: string) {
      const record = yield* core.readRecord(id)
      if (isTerminal(record.status)) {
        return yield* new InvalidTransition({ taskId: id, status: record.status, action: "resume" })
      }
      // a pause asked of it that nothing has carried out yet is withdrawn, before a driver here may take it again
      yield* control.withdrawPause(id)
      if (record.status === "suspended") {
        yield* store.wake(id)
        yield* control.wake(id)
      }
      const task = registry.get(record.name)
      if (task === undefined) return yield* new UnknownTask({ taskName: record.name })
      yield* drivers.start(task, id, false)
    })

    // Its span links the traces of the tasks it takes back, whose next attempts continue them.
    const recover = Effect.useSpan(SpanName.recover, (span) =>
      Effect.gen(function* () {
        const recovered = yield* store.recoverOwned(core.runtimeId)
        span.attribute(Attribute.recoveredCount, recovered.length)
        span.addLinks(
          recovered.flatMap((record) => {
            const parent = parentSpanOf(record.trace)
            return parent === undefined ? [] : [{ span: parent, attributes: { [Attribute.taskId]: record.id } }]
          })
        )
        for (const record of recovered) {
          // its end may release a queued sibling, which this runtime then drives (see `childEnded`)
          if (record.parentId !== undefined) core.queuedParents.add(record.parentId)
          const task = registry.get(record.name)
          if (task === undefined) yield* unknownTaskWarning(record)
          else yield* drivers.start(task, record.id, false, { initial: record })
        }
        return recovered.map((record) => record.id)
      }).pipe(Effect.withParentSpan(span))
    )

    const pause = Effect.fnUntraced(function* (id: string) {
      const record = yield* core.readRecord(id)
      if (yield* control.pause(id)) return
      return yield* new InvalidTransition({ taskId: id, status: record.status, action: "pause" })
    })

    /** A page of the store's tasks, walked with the store's own cursors: one it refuses is a defect. */
    const listPage = (query: TaskQuery) =>
      Effect.catchTag(store.list(query), "InvalidCursor", (error) => Effect.die(error))

    const inspectTask = Effect.fnUntraced(function* (id: string) {
      const record = yield* core.readRecord(id)
      const now = yield* Clock.currentTimeMillis
      const maxParallel = registry.get(record.name)?.maxParallel ?? Number.POSITIVE_INFINITY
      let running = 0
      if (record.status === "pending" && Number.isFinite(maxParallel)) {
        const page = yield* listPage({ status: "running", name: record.name, sessionId: record.sessionId, limit: 1000 })
        running = page.items.filter((t) => t.sessionId === record.sessionId && (t.leaseExpiresAt ?? 0) >= now).length
      }
      // a task waiting for children: the 20 oldest of its children that have not ended
      const waitingFor =
        record.suspendReason?._tag === "WaitingForChildren"
          ? (yield* store.childSummaries(record.id))
              .filter((child) => !isTerminal(child.status))
              .sort(byCreation)
              .slice(0, 20)
              .map((child) => child.id)
          : []
      return inspect(record, now, { maxParallel, running }, waitingFor)
    })

    yield* Effect.forkIn(leases.heartbeats, scope)
    if (options.worker !== undefined) yield* Effect.forkIn(runWorker(core, registry, drivers, options.worker), scope)

    const runtime: Runtime<PluginProvides<Plugins[number]>> = {
      id: core.runtimeId,
      run: (task, input, opts) => run(erase(task), input, opts) as never,
      submit: (task, input, opts) => submit(erase(task), input, opts) as never,
      handle: (task, id) => handle(erase(task), id, undefined) as never,
      resume,
      pause,
      recover,
      cancel: control.cancel,
      get: core.readRecord,
      inspect: inspectTask,
      list: store.list,
      subscribe: events.subscribe,
      history: events.history,
      subscribeTree: (rootId, opts) => subscribeTree(core, rootId, opts),
      signal,
      session: (id) => ({
        id,
        run: (task, input, opts) => runtime.run(task, input, { ...opts, session: id }),
        submit: (task, input, opts) => runtime.submit(task, input, { ...opts, session: id }),
        list: (query) => store.list({ ...query, sessionId: id }),
        cancelAll: Effect.gen(function* () {
          let cursor: string | undefined
          do {
            const page = yield* listPage({ sessionId: id, cursor, limit: 500 })
            for (const item of page.items) {
              if (!isTerminal(item.status)) yield* control.cancel(item.id)
            }
            cursor = page.nextCursor
          } while (cursor !== undefined)
        }).pipe(Effect.catchTag("TaskNotFound", () => Effect.void))
      })
    }
    return runtime
  })
