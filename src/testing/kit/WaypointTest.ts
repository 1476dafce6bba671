/**
 * A test kit for your own tasks, offline and fast: memory stores and a `TestClock` in one layer, and a runtime you can
 * run until a task suspends or ends, move through time (pauses, TTLs, retries, signal timeouts), signal, read the
 * recorded steps of, crash right after a chosen boundary committed, and restart over the same stores. It needs no
 * test runner: use it from `@effect/vitest`'s `it.effect` or from a plain `Effect.runPromise`.
 */
import {
  Clock,
  type Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  type Schema,
  Scope,
  Stream
} from "effect"
import { TestClock } from "effect/testing"
import { type SignalRejected, StoreMissing, TaskNotFound } from "../../runtime/errors.ts"
import type { AnyPlugin, ExecutionServices, PluginProvides, PluginRequires } from "../../runtime/Plugin.ts"
import * as Runtime from "../../runtime/Runtime.ts"
import type { Task } from "../../runtime/Task.ts"
import type { TaskHandle } from "../../runtime/TaskHandle.ts"
import type { StoreError } from "../../stores/errors.ts"
import * as MemoryStore from "../../stores/memory/MemoryStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import { isTerminal, type TaskRecord, type TaskStatus } from "../../stores/TaskRecord.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import { type CommittedWrite, type CrashPoint, describe, matches } from "./CrashPoint.ts"
import { TaskStalled } from "./errors.ts"
import { followingHandle } from "./internal/followingHandle.ts"
import { type LifeState, lifeContext } from "./internal/lifeStores.ts"

/** Every memory store, fresh for each test, and a `TestClock` (time stands still until `advance`). */
export const layer: Layer.Layer<Layer.Success<typeof MemoryStore.layer> | TestClock.TestClock> = Layer.merge(
  MemoryStore.layer,
  TestClock.layer()
)

/** A task, by its id or by anything that has one (a handle). */
export type TaskRef = string | { readonly id: string }

/** How to build a test runtime: the options of `Runtime.make`, and how long a wait may see nothing move. */
export interface TestRuntimeOptions<Plugins extends ReadonlyArray<AnyPlugin>> extends Runtime.RuntimeOptions<Plugins> {
  /**
   * How long, in real time, `runUntilSuspended` and `runUntilSettled` wait for a task that does not move before they
   * fail with `TaskStalled` (time stands still: a sleeping task needs `advance`). Default: 1 second.
   */
  readonly stallTimeout?: Duration.Input | undefined
}

/**
 * A runtime under test whose plugins provide `P`. Unless the options say otherwise, its id is `"waypoint-test"`, its
 * `leaseDuration` 1 hour and its `pollInterval` 1 minute: each heartbeat and each poll is a wake-up that `advance` runs
 * through, and in one process nothing needs them sooner.
 */
export interface TestRuntime<P> {
  /** The runtime of the current life: `restart` replaces it. */
  readonly runtime: Runtime.Runtime<P>
  /** Submits a task; its handle follows the task across `restart`s. */
  readonly submit: Runtime.SubmitTask<P, Runtime.SubmitOptions>
  /** A handle on a task that follows it across `restart`s. */
  readonly handle: <I, O, E, R>(task: Task<I, O, E, R>, id: string) => TaskHandle<O, E>
  /** Sends a signal to a task (see `Runtime.signal`). */
  readonly signal: (
    task: TaskRef,
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | StoreMissing | TaskNotFound | StoreError>
  /**
   * Moves the `TestClock` on by `duration`, waking in order every sleep due on the way (a pause's delay, a retry's
   * back-off, a signal's timeout, a TTL), each woken fiber running until it waits again.
   */
  readonly advance: (duration: Duration.Input) => Effect.Effect<void>
  /** Waits until the store shows the task suspended or ended, or the runtime crashed; returns its stored record. */
  readonly runUntilSuspended: (task: TaskRef) => Effect.Effect<TaskRecord, TaskStalled | TaskNotFound | StoreError>
  /** Waits until the store shows the task ended (completed, failed, cancelled), or the runtime crashed. */
  readonly runUntilSettled: (task: TaskRef) => Effect.Effect<TaskRecord, TaskStalled | TaskNotFound | StoreError>
  /** The steps the store has recorded for a task: each name with its result as stored (JSON), as the store lists them. */
  readonly steps: (task: TaskRef) => Effect.Effect<ReadonlyMap<string, Schema.Json>, StoreMissing | StoreError>
  /**
   * Arms the crash injector (one point at a time; arming again replaces it): the runtime stops as if its process died
   * right after the write at `point` committed. The write stays in the store, the runtime never hears back, and
   * nothing it tries afterwards (a finalizer, a requeue, the next step) is written. Then `restart`.
   */
  readonly crashAt: (point: CrashPoint) => Effect.Effect<void>
  /** Whether the current life has crashed (an armed point fired). */
  readonly hasCrashed: Effect.Effect<boolean>
  /**
   * Starts a fresh runtime, with the same id, over the same stores, as a process restarted after a crash does: it
   * runs `recover`, so the tasks the old one left running resume; returns their ids. The current runtime, if it has
   * not crashed, crashes first (at whatever it was doing).
   */
  readonly restart: Effect.Effect<ReadonlyArray<string>, StoreError>
}

/** One life of the runtime under test: from its start (or restart) to its crash. */
interface LifeParts {
  readonly state: LifeState
  readonly scope: Scope.Closeable
  readonly crashed: Deferred.Deferred<void>
  /** The fiber closing its Scope, once it crashed. */
  closing: Fiber.Fiber<void> | undefined
}

interface Life<P> extends LifeParts {
  readonly runtime: Runtime.Runtime<P>
}

const idOf = (task: TaskRef): string => (typeof task === "string" ? task : task.id)

const isSuspendedOrEnded = (status: TaskStatus) => status === "suspended" || isTerminal(status)

/**
 * Builds a test runtime in the current Scope over the stores of the context (`WaypointTest.layer`, or any store
 * layer), with the `Clock` of the context.
 *
 * @example
 * ```ts
 * it.effect("publishes once approved", () =>
 *   Effect.gen(function* () {
 *     const test = yield* WaypointTest.make({ plugins: [StatePlugin.make()] })
 *     const handle = yield* test.submit(publish, "draft")
 *     yield* test.runUntilSuspended(handle)
 *     yield* test.signal(handle, "approval", { approved: true, by: "ada" })
 *     assert.strictEqual(yield* handle.await, "published by ada: draft")
 *   }).pipe(Effect.provide(WaypointTest.layer))
 * )
 * ```
 */
export const make = <const Plugins extends ReadonlyArray<AnyPlugin> = readonly []>(
  options: TestRuntimeOptions<Plugins> = {}
): Effect.Effect<
  TestRuntime<PluginProvides<Plugins[number]>>,
  never,
  Scope.Scope | TaskStore | Exclude<PluginRequires<Plugins[number]>, ExecutionServices>
> =>
  Effect.gen(function* () {
    type P = PluginProvides<Plugins[number]>
    const scope = yield* Scope.Scope
    const context = (yield* Effect.context<TaskStore>()) as Context.Context<unknown>
    const tasks = yield* TaskStore
    const steps = yield* Effect.serviceOption(StepStore)
    const stallMillis = Duration.toMillis(options.stallTimeout ?? "1 second")
    const runtimeOptions: Runtime.RuntimeOptions<Plugins> = {
      ...options,
      id: options.id ?? "waypoint-test",
      // Heartbeats tick every third of the lease, tasks or not, and the driver of a suspended task reads the store
      // every poll interval: with the defaults (30 s, 1 s), a test that moves days on wakes them 170 000 times.
      leaseDuration: options.leaseDuration ?? "1 hour",
      pollInterval: options.pollInterval ?? "1 minute"
    }
    let armed: CrashPoint | undefined
    let current: Life<P>

    /** From now on every store call of the life is refused, as a dead process makes none. */
    const markCrashed = (life: LifeParts, point: string) =>
      Effect.suspend(() => {
        if (life.state.crashedAt !== undefined) return Effect.void
        life.state.crashedAt = point
        return Deferred.succeed(life.crashed, undefined)
      })

    /**
     * Ends a life as a dead process does: its calls refused, and its fibers interrupted at once (in a fiber of the
     * kit's Scope), so that no code of any of its tasks runs on after the crash.
     */
    const crash = (life: LifeParts, point: string) =>
      Effect.andThen(
        markCrashed(life, point),
        Effect.suspend(() =>
          life.closing !== undefined
            ? Effect.void
            : Effect.map(Effect.forkIn(Scope.close(life.scope, Exit.void), scope), (closing) => {
                life.closing = closing
              })
        )
      )

    const startLife = Effect.gen(function* () {
      const state: LifeState = { crashedAt: undefined }
      // not a child of the kit's Scope: a life is closed by a crash, a restart or the kit's own finalizer, never
      // by a shutdown that would write to the stores
      const lifeScope = yield* Scope.make("sequential")
      const life: LifeParts = { state, scope: lifeScope, crashed: yield* Deferred.make<void>(), closing: undefined }
      const onCommitted = (write: CommittedWrite) =>
        Effect.suspend(() => {
          if (armed === undefined || state.crashedAt !== undefined || !matches(armed, write)) {
            return Effect.succeed(false)
          }
          const point = describe(armed)
          armed = undefined
          return Effect.as(crash(life, point), true)
        })
      const runtime = yield* Runtime.make(runtimeOptions).pipe(
        Scope.provide(lifeScope),
        Effect.provideContext(lifeContext(context, state, onCommitted))
      )
      return Object.assign(life, { runtime: runtime as Runtime.Runtime<P> })
    })

    current = yield* startLife
    // The test is over: its runtime stops as a crashed one does, so it writes nothing to stores already closed.
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        markCrashed(current, "the end of the test"),
        Effect.suspend(() => Scope.close(current.scope, Exit.void))
      )
    )

    const awaitClosed = (life: LifeParts) => (life.closing === undefined ? Effect.void : Fiber.await(life.closing))

    const read = (id: string) =>
      Effect.flatMap(tasks.get(id), (record) =>
        Option.isSome(record) ? Effect.succeed(record.value) : Effect.fail(new TaskNotFound({ taskId: id }))
      )

    /**
     * Waits until the stored record satisfies `isDone`, the life crashes, or nothing moves for `stallMillis` of real
     * time. Subscribes after the last event already kept, so an event published while the store is read is not missed.
     */
    const runUntil = (
      ref: TaskRef,
      isDone: (status: TaskStatus) => boolean,
      waitingFor: "suspended" | "settled"
    ): Effect.Effect<TaskRecord, TaskStalled | TaskNotFound | StoreError> =>
      Effect.gen(function* () {
        const id = idOf(ref)
        while (true) {
          const life = current
          const kept = yield* life.runtime.history({ taskId: id })
          const after = kept.at(-1)?.seq ?? 0
          const record = yield* read(id)
          if (isDone(record.status) || life.state.crashedAt !== undefined) return record
          const changed = life.runtime.subscribe({ taskId: id, after }).pipe(
            Stream.filter((event) => event._tag === "StatusChanged" && isDone(event.status)),
            Stream.take(1),
            Stream.runDrain
          )
          const moved = yield* Effect.raceFirst(changed, Deferred.await(life.crashed)).pipe(
            Effect.as(true),
            Effect.timeoutOrElse({ duration: stallMillis, orElse: () => Effect.succeed(false) }),
            // real time: the TestClock stands still while the test waits here
            Effect.provideService(Clock.Clock, Clock.Clock.defaultValue())
          )
          if (!moved) {
            const last = yield* read(id)
            if (isDone(last.status)) return last
            return yield* new TaskStalled({ taskId: id, status: last.status, waitingFor })
          }
        }
      })

    const test: TestRuntime<P> = {
      get runtime() {
        return current.runtime
      },
      submit: (task, input, submitOptions) =>
        Effect.suspend(() => {
          const runtime = current.runtime
          return Effect.map(runtime.submit(task, input, submitOptions), (handle) =>
            followingHandle(task, handle.id, () => current.runtime, { runtime, handle })
          )
        }),
      handle: (task, id) => followingHandle(task, id, () => current.runtime),
      signal: (ref, name, payload) => Effect.suspend(() => current.runtime.signal(idOf(ref), name, payload)),
      advance: (duration) => Effect.andThen(TestClock.adjust(duration), Effect.yieldNow),
      runUntilSuspended: (ref) => runUntil(ref, isSuspendedOrEnded, "suspended"),
      runUntilSettled: (ref) => runUntil(ref, isTerminal, "settled"),
      steps: (ref) =>
        Option.isNone(steps)
          ? Effect.fail(new StoreMissing({ store: "StepStore", operation: "WaypointTest.steps" }))
          : Effect.map(steps.value.listSteps(idOf(ref)), (recorded) => {
              const named = new Map<string, Schema.Json>()
              for (const [key, value] of recorded) if (key.startsWith("step:")) named.set(key.slice(5), value)
              return named
            }),
      crashAt: (point) =>
        Effect.sync(() => {
          armed = point
        }),
      hasCrashed: Effect.sync(() => current.state.crashedAt !== undefined),
      restart: Effect.gen(function* () {
        const old = current
        yield* crash(old, "restart")
        yield* awaitClosed(old)
        current = yield* startLife
        return yield* current.runtime.recover
      })
    }
    return test
  })
