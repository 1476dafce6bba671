/**
 * The task runtime: runs task bodies as interruptible fibers supervised in its Scope, records every lifecycle
 * change in the `TaskStore`, and gives each execution `TaskInfo` plus what its plugins provide. `run` and
 * `submit` take one path: a driver that claims the task, executes an attempt, and records one outcome.
 */
import {
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Schema,
  Scope,
  type Stream
} from "effect"
import type { InvalidCursor, StoreError } from "../stores/errors.ts"
import { StepStore } from "../stores/StepStore.ts"
import { unstorable } from "../stores/storable.ts"
import { isTerminal, type TaskRecord } from "../stores/TaskRecord.ts"
import { type TaskPage, type TaskQuery, TaskStore } from "../stores/TaskStore.ts"
import {
  IdempotencyKeyReused,
  type InvalidTaskInput,
  InvalidTransition,
  MaxInstancesReached,
  SignalRejected,
  TaskNotFound,
  UnknownTask
} from "./errors.ts"
import { type Inspection, inspect } from "./Inspection.ts"
import { type Driver, makeDriver, type StartFrom } from "./internal/driver.ts"
import { type AnyTask, codecsOf, erase } from "./internal/outcome.ts"
import type { AnyPlugin, ExecutionServices, PluginProvides, PluginRequires } from "./Plugin.ts"
import type { Session } from "./Session.ts"
import type { Task, TaskDefinition } from "./Task.ts"
import type { TaskEvent } from "./TaskEvent.ts"
import { type SubscribeOptions, TaskEvents } from "./TaskEvents.ts"
import type { TaskError, TaskHandle } from "./TaskHandle.ts"
import { TaskInfo } from "./TaskInfo.ts"

/** Where and how to start a task. */
export interface SubmitOptions {
  /** The task's id; a fresh UUID by default. */
  readonly id?: string | undefined
  /** The session the task belongs to; `maxParallel` counts per session. */
  readonly session?: string | undefined
  /** When `maxParallel` instances already run: wait for a slot (default) or fail with `MaxInstancesReached`. */
  readonly onLimit?: "wait" | "fail" | undefined
  /** A retried submit with the same key returns the task the first one created, and starts nothing new. */
  readonly idempotencyKey?: string | undefined
}

/** A runtime whose plugins provide `P`: it runs every task whose body needs no more than `P | TaskInfo`. */
export interface Runtime<P> {
  /** This runtime's identity: the owner of the leases it takes. */
  readonly id: string
  /** Runs a task in a fiber of the caller and returns its output; the task is recorded like a submitted one. */
  readonly run: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SubmitOptions
  ) => Effect.Effect<O, TaskError<E> | MaxInstancesReached | IdempotencyKeyReused>
  /** Starts a task in the background and returns a handle on it. Bad input fails here and nothing is stored. */
  readonly submit: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SubmitOptions
  ) => Effect.Effect<TaskHandle<O, E>, InvalidTaskInput | MaxInstancesReached | IdempotencyKeyReused | StoreError>
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
   * hands the task back to the store. A task running in
   * another process is asked, through the store, and cancelled by that process as soon as it hears of it (a
   * notification, or its next heartbeat, within a third of the lease's duration); this returns once it is asked.
   */
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  readonly get: (id: string) => Effect.Effect<TaskRecord, TaskNotFound | StoreError>
  /** Why a task is where it is: running, lease expired, waiting for a signal, sleeping, queued behind its limit. */
  readonly inspect: (id: string) => Effect.Effect<Inspection, TaskNotFound | StoreError>
  readonly list: (query: TaskQuery) => Effect.Effect<TaskPage, StoreError | InvalidCursor>
  /** Every event of every task this runtime drives, from the moment of subscription. */
  readonly events: Stream.Stream<TaskEvent>
  /** Events of all tasks or of one, optionally resuming after a sequence number (as far as the history keeps). */
  readonly subscribe: (options?: SubscribeOptions) => Stream.Stream<TaskEvent>
  /** The kept events (of one task, after a sequence number), without waiting for more. */
  readonly history: (options?: SubscribeOptions) => Effect.Effect<ReadonlyArray<TaskEvent>>
  /** A view of this runtime that submits into one session. */
  readonly session: (id: string) => Session<P>
  /**
   * Sends a signal to a task: kept in its durable mailbox until a `waitForSignal` of that name takes it, and
   * wakes the task if it is waiting for that signal (no other). A task that declares its `signals` refuses any
   * other name with `SignalRejected`, as it refuses a payload its Schema does not accept. Needs a `StepStore` in the
   * runtime's context.
   */
  readonly signal: (
    id: string,
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | TaskNotFound | StoreError>
  /** Makes this runtime look at a task in the store again now (for a change made by another process). */
  readonly wake: (id: string) => Effect.Effect<void>
}

const JsonPayload = Schema.toCodecJson(Schema.Json)

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
  readonly worker?:
    | { readonly concurrency?: number | undefined; readonly pollInterval?: Duration.Input | undefined }
    | undefined
  /** How often a handle on a task that runs elsewhere reads the store. Default: 1 second. */
  readonly pollInterval?: Duration.Input | undefined
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
    const steps = yield* Effect.serviceOption(StepStore)
    const context = yield* Effect.context<TaskStore | Exclude<PluginRequires<Plugins[number]>, ExecutionServices>>()
    const plugins: ReadonlyArray<AnyPlugin> = options.plugins ?? []
    const runtimeId = options.id ?? crypto.randomUUID()
    const events = yield* TaskEvents.make({
      bufferSize: options.eventBufferSize ?? 4096,
      history: options.eventHistory ?? 10_000
    })

    const registry = new Map<string, AnyTask>()
    const register = (task: AnyTask) => {
      if (!registry.has(task.name)) registry.set(task.name, task)
    }
    for (const task of options.tasks ?? []) register(task as unknown as AnyTask)

    const driver: Driver = makeDriver({
      runtimeId,
      store,
      scope,
      context: context as Context.Context<unknown>,
      pluginLayer:
        plugins.length === 0
          ? undefined
          : Layer.mergeAll(...(plugins.map((p) => p.layer) as [Layer.Layer<never, never, unknown>])),
      hooks: plugins.flatMap((p) => (p.hooks === undefined ? [] : [p.hooks])),
      events,
      pollInterval: options.pollInterval ?? "1 second",
      cancelGracePeriod: options.cancelGracePeriod ?? 0,
      leaseDuration: options.leaseDuration ?? "30 seconds",
      // `signal` is defined below; the driver only calls it from a handle, after construction.
      signal: (id, name, payload) => Effect.suspend(() => signal(id, name, payload))
    })

    const leaseMillis = Duration.toMillis(options.leaseDuration ?? "30 seconds")

    interface Enqueued {
      readonly record: TaskRecord
      readonly slotHeld: boolean
      /** How the driver starts: from the new record, claimed by this runtime already or not. */
      readonly from: StartFrom
    }

    /**
     * Validates, takes a slot when failing fast, and records the new task. A task without a `maxParallel` is
     * created already claimed by this runtime, which drives it at once: one write fewer per task. Combinators,
     * not `Effect.gen`, as in the driver: this runs once per task.
     */
    const enqueue = (
      task: AnyTask,
      input: unknown,
      opts: SubmitOptions | undefined
    ): Effect.Effect<Enqueued, InvalidTaskInput | MaxInstancesReached | IdempotencyKeyReused | StoreError> =>
      // The caller's fiber tells, at once, its parent task (if it is one) and the time.
      Effect.withFiber((fiber) => {
        register(task)
        const sessionId = opts?.session
        const limited = Number.isFinite(task.maxParallel)
        const failFast = opts?.onLimit === "fail" && limited
        let slotHeld = false
        // Functions, not effects: most submits take no slot up front, and build neither.
        const releaseSlot = () => (slotHeld ? Effect.asVoid(driver.slot(task, sessionId).release(1)) : Effect.void)
        const takeSlot = () =>
          Effect.flatMap(driver.slot(task, sessionId).takeIfAvailable(1), (taken) => {
            slotHeld = taken
            return taken
              ? Effect.void
              : Effect.fail(
                  new MaxInstancesReached({
                    taskName: task.name,
                    sessionId: sessionId ?? "",
                    maxParallel: task.maxParallel
                  })
                )
          })
        const id = opts?.id ?? crypto.randomUUID()
        const parent = Context.getOption(fiber.context, TaskInfo)
        const clock = fiber.getRef(Clock.Clock)
        const create = (encoded: unknown) => {
          // Read once the input is encoded (which may take time): the lease runs from the create.
          const now = clock.currentTimeMillisUnsafe()
          const created = store.create({
            id,
            name: task.name,
            input: encoded as Schema.Json,
            sessionId,
            parentId: Option.isSome(parent) ? parent.value.id : undefined,
            idempotencyKey: opts?.idempotencyKey,
            lease: limited ? undefined : { owner: runtimeId, expiresAt: now + leaseMillis }
          })
          return failFast ? Effect.onError(created, releaseSlot) : created
        }
        const created = (record: TaskRecord): Effect.Effect<Enqueued, IdempotencyKeyReused> => {
          if (record.id === id) {
            const claimed = record.status === "running" && record.leaseOwner === runtimeId
            // Every task's events start with `pending`, also one created already claimed.
            driver.publishNow(claimed ? { ...record, status: "pending" } : record)
            return Effect.succeed({ record, slotHeld, from: { initial: record, claimed } })
          }
          // An earlier submit with this idempotency key created the task: nothing new starts.
          return Effect.andThen(
            Effect.suspend(releaseSlot),
            record.name === task.name
              ? Effect.succeed({ record, slotHeld: false, from: {} })
              : Effect.fail(
                  new IdempotencyKeyReused({
                    idempotencyKey: opts?.idempotencyKey ?? "",
                    taskId: record.id,
                    taskName: record.name
                  })
                )
          )
        }
        const encoded = codecsOf(task).encodeInput(input)
        // The common case: the input encodes at once and no slot is taken up front.
        if (!failFast && Exit.isExit(encoded) && Exit.isSuccess(encoded)) {
          return Effect.flatMap(create(encoded.value), created)
        }
        return Effect.flatMap(encoded, (value) =>
          (failFast
            ? Effect.andThen(
                takeSlot(),
                Effect.suspend(() => create(value))
              )
            : create(value)
          ).pipe(Effect.flatMap(created))
        )
      })

    // A task created is driven whatever comes: a caller interrupted between the two (a timeout around `submit`)
    // would leave it created, and, claimed at its create, `running` with nobody executing it.
    const submit = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      Effect.uninterruptible(
        Effect.flatMap(enqueue(task, input, opts), ({ record, slotHeld, from }) =>
          Effect.map(driver.start(task, record.id, slotHeld, from), (waiter) => driver.handle(task, record.id, waiter))
        )
      )

    const run = (task: AnyTask, input: unknown, opts?: SubmitOptions) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(enqueue(task, input, opts), ({ record, slotHeld, from }) =>
          Effect.flatMap(driver.runHere(task, record.id, slotHeld, from), ({ waiter, driver: driven }) =>
            // The caller giving up on a direct run (a shutdown, a timeout around it) stops its driver, which hands the
            // task back to the store as a shutdown does; only an explicit cancel cancels.
            restore(Deferred.await(waiter)).pipe(
              Effect.onInterrupt(() => (driven === undefined ? Effect.void : Fiber.interrupt(driven)))
            )
          )
        )
      )

    const get = (id: string) =>
      Effect.flatMap(
        store.get(id),
        Option.match({
          onNone: () => Effect.fail(new TaskNotFound({ taskId: id })),
          onSome: Effect.succeed
        })
      )

    const resume = Effect.fnUntraced(function* (id: string) {
      const record = yield* get(id)
      if (isTerminal(record.status)) {
        return yield* new InvalidTransition({ taskId: id, status: record.status, action: "resume" })
      }
      // a pause asked of it that nothing has carried out yet is withdrawn, before a driver here may take it again
      yield* driver.withdrawPause(id)
      if (record.status === "suspended") {
        yield* store.wake(id)
        yield* driver.wake(id)
      }
      const task = registry.get(record.name)
      if (task === undefined) return yield* new UnknownTask({ taskName: record.name })
      yield* driver.start(task, id, false)
    })

    const signal = Effect.fnUntraced(function* (id: string, name: string, payload: unknown) {
      const record = yield* get(id)
      const rejected = (cause: SignalRejected["cause"], reason: string) =>
        new SignalRejected({ taskId: id, signal: name, cause, reason })
      if (isTerminal(record.status)) return yield* rejected("TaskEnded", `the task has ended (${record.status})`)
      const declared = registry.get(record.name)?.signals ?? {}
      const names = Object.keys(declared)
      if (names.length > 0 && !Object.hasOwn(declared, name)) {
        return yield* rejected("UnknownSignal", `the task declares only ${names.map((n) => `"${n}"`).join(", ")}`)
      }
      const schema = declared[name] ?? JsonPayload
      const encoded = yield* Effect.mapError(Schema.encodeUnknownEffect(schema)(payload), (error) =>
        rejected("InvalidPayload", error.message)
      )
      const issue = unstorable(encoded)
      if (issue !== undefined) return yield* rejected("InvalidPayload", issue)
      if (Option.isNone(steps)) {
        return yield* Effect.die(new Error("runtime.signal needs a StepStore in the runtime's context"))
      }
      yield* steps.value.sendSignal(id, name, encoded as Schema.Json)
      // Only a task suspended waiting for this very signal is woken: any other would run its body again for nothing.
      // Read after the signal is stored: a task that suspends later finds it in its mailbox (the state plugin's
      // `onSuspend` hook looks), so between the two no wake-up is lost.
      const now = yield* get(id)
      if (now.status === "suspended" && now.suspendReason?._tag === "WaitingForSignal") {
        if (now.suspendReason.signal !== name) return
        yield* store.wake(id)
        yield* driver.wake(id)
      }
    })

    const recover = Effect.gen(function* () {
      const recovered = yield* store.recoverOwned(runtimeId)
      for (const record of recovered) {
        const task = registry.get(record.name)
        if (task !== undefined) yield* driver.start(task, record.id, false, { initial: record })
      }
      return recovered.map((record) => record.id)
    })

    const pause = Effect.fnUntraced(function* (id: string) {
      const record = yield* get(id)
      if (yield* driver.pause(id)) return
      return yield* new InvalidTransition({ taskId: id, status: record.status, action: "pause" })
    })

    yield* Effect.forkIn(driver.heartbeats, scope)

    if (options.worker !== undefined) {
      const concurrency = options.worker.concurrency ?? 10
      const pollInterval = options.worker.pollInterval ?? "500 millis"
      /** Takes on runnable tasks up to the free room; says whether it filled the room (more may be waiting). */
      const poll = Effect.gen(function* () {
        const seen = driver.completed()
        const free = concurrency - driver.executing()
        if (free <= 0) return { filled: true, seen }
        const runnable = yield* store.listRunnable({ names: [...registry.keys()], limit: free })
        for (const record of runnable) {
          const task = registry.get(record.name)
          if (task !== undefined) yield* driver.start(task, record.id, false, { initial: record, detach: true })
        }
        return { filled: runnable.length >= free, seen }
      }).pipe(
        Effect.catchTag("StoreError", (error) =>
          Effect.as(Effect.logWarning("worker: could not look for runnable tasks", error), { filled: false, seen: 0 })
        )
      )
      const pollMillis = Duration.toMillis(pollInterval)
      // With room to spare: wait until the store says a task may be runnable (or the poll interval passes). With the
      // room filled, more tasks may be waiting: look again as soon as an attempt here has ended (at once if one
      // already has, as a short task does within the poll).
      const waitForWork = ({ filled, seen }: { readonly filled: boolean; readonly seen: number }) =>
        !filled
          ? store.awaitWork(pollMillis).pipe(Effect.catchTag("StoreError", () => Effect.sleep(pollMillis)))
          : driver.completed() > seen
            ? Effect.void
            : Effect.raceFirst(driver.freed, Effect.sleep(pollMillis))
      yield* Effect.forkIn(Effect.forever(Effect.flatMap(poll, waitForWork)), scope)
    }

    /** A page of the store's tasks, walked with the store's own cursors: one it refuses is a defect. */
    const listPage = (query: TaskQuery) =>
      Effect.catchTag(store.list(query), "InvalidCursor", (error) => Effect.die(error))

    const inspectTask = Effect.fnUntraced(function* (id: string) {
      const record = yield* get(id)
      const now = yield* Clock.currentTimeMillis
      const maxParallel = registry.get(record.name)?.maxParallel ?? Number.POSITIVE_INFINITY
      let running = 0
      if (record.status === "pending" && Number.isFinite(maxParallel)) {
        const page = yield* listPage({
          status: "running",
          name: record.name,
          sessionId: record.sessionId,
          limit: 1000
        })
        running = page.items.filter((t) => t.sessionId === record.sessionId && (t.leaseExpiresAt ?? 0) >= now).length
      }
      return inspect(record, now, { maxParallel, running })
    })

    const runtime: Runtime<PluginProvides<Plugins[number]>> = {
      id: runtimeId,
      run: (task, input, opts) => run(erase(task), input, opts) as never,
      submit: (task, input, opts) => submit(erase(task), input, opts) as never,
      handle: (task, id) => driver.handle(erase(task), id, undefined) as never,
      resume,
      pause,
      recover,
      cancel: driver.cancel,
      get,
      inspect: inspectTask,
      list: store.list,
      events: events.subscribe(),
      subscribe: events.subscribe,
      history: events.history,
      signal,
      wake: driver.wake,
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
              if (!isTerminal(item.status)) yield* driver.cancel(item.id)
            }
            cursor = page.nextCursor
          } while (cursor !== undefined)
        }).pipe(Effect.catchTag("TaskNotFound", () => Effect.void))
      })
    }
    return runtime
  })
