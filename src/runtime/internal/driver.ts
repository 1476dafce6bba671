/**
 * The one path every task takes in this process: a driver fiber per live task waits until the task is runnable
 * (its `runAt`, a wake-up, a free slot), claims it, executes one attempt, records one outcome, and loops until the
 * task ends. Interrupting the driver cancels the task (when asked to) or hands it back to the store as `pending`.
 */
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  type Layer,
  Option,
  type Scope,
  Semaphore,
  Stream
} from "effect"
import type { LeaseLost, StoreError } from "../../stores/errors.ts"
import {
  isTerminal,
  type StoredError,
  type SuspendReason,
  type TaskRecord,
  type TaskStatus
} from "../../stores/TaskRecord.ts"
import type { TaskStore, Transition } from "../../stores/TaskStore.ts"
import { type SignalRejected, TaskCancelled, TaskNotFound, TaskTimeout } from "../errors.ts"
import type { LifecycleHooks } from "../Plugin.ts"
import { TaskEvents } from "../TaskEvents.ts"
import type { TaskHandle } from "../TaskHandle.ts"
import { TaskInfo } from "../TaskInfo.ts"
import { makeHandles } from "./handle.ts"
import { type AnyTask, codecsOf, decideEnding, type Ending, exitFromRecord } from "./outcome.ts"

type AnyExit = Exit.Exit<unknown, unknown>

/** An attempt recorded: the record it left, and the result for waiters here if it ended the task. */
interface Executed {
  readonly record: TaskRecord
  readonly exit: AnyExit
}

/** The status a task is left in by each transition `finish` records. */
const statusAfter: { readonly [K in Transition["_tag"]]: TaskStatus } = {
  Completed: "completed",
  Failed: "failed",
  Cancelled: "cancelled",
  Suspended: "suspended",
  Requeued: "pending"
}

export interface DriverOptions {
  readonly runtimeId: string
  readonly store: TaskStore["Service"]
  readonly scope: Scope.Scope
  readonly context: Context.Context<unknown>
  readonly pluginLayer: Layer.Layer<never, never, unknown> | undefined
  readonly hooks: ReadonlyArray<Partial<LifecycleHooks<unknown>>>
  readonly events: TaskEvents["Service"]
  readonly pollInterval: Duration.Input
  readonly cancelGracePeriod: Duration.Input
  readonly leaseDuration: Duration.Input
  readonly signal: (
    id: string,
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | TaskNotFound | StoreError>
}

/** What a driver starts from. */
export interface StartFrom {
  /** The task's record as the caller has it, so the driver need not read it first. */
  readonly initial?: TaskRecord | undefined
  /** `initial` is a claim this runtime took for this driver (created with its lease): execute it at once. */
  readonly claimed?: boolean | undefined
  /** A worker's driver: it lets go of the task when it is not runnable, unless someone here waits for it. */
  readonly detach?: boolean | undefined
}

export interface Driver {
  /** The semaphore that counts running instances of `task` in a session. */
  readonly slot: (task: AnyTask, sessionId: string | undefined) => Semaphore.Semaphore
  readonly publish: (record: TaskRecord) => Effect.Effect<void>
  /** `publish`, done at once. */
  readonly publishNow: (record: TaskRecord) => void
  /** Drives the task in a fiber of the runtime's Scope (unless one already does); its result goes to the waiter. */
  readonly start: {
    (task: AnyTask, id: string, slotHeld: boolean, from?: StartFrom): Effect.Effect<Deferred.Deferred<unknown, unknown>>
    /** For a worker: the driver lets go of the task when it is not runnable, unless someone here waits for it. */
    (task: AnyTask, id: string, slotHeld: boolean, from: StartFrom & { readonly detach: true }): Effect.Effect<unknown>
  }
  /** Renews the leases of the attempts executing here; runs forever in the runtime's Scope. */
  readonly heartbeats: Effect.Effect<never>
  /** How many attempts this process is executing now, or has taken on as a worker and not let go of. */
  readonly executing: () => number
  /** How many worker's drivers have ended after executing an attempt: proof of progress, not of contention. */
  readonly completed: () => number
  /** Waits until `completed` grows: there is room for another task. */
  readonly freed: Effect.Effect<void>
  /**
   * Drives the task in a child fiber of the caller; its result goes to the returned waiter. `driver` is that fiber,
   * or undefined when a driver here already drove the task (the caller then only waits for it).
   */
  readonly runHere: (
    task: AnyTask,
    id: string,
    slotHeld: boolean,
    from?: StartFrom
  ) => Effect.Effect<{
    readonly waiter: Deferred.Deferred<unknown, unknown>
    readonly driver: Fiber.Fiber<unknown> | undefined
  }>
  readonly handle: (
    task: AnyTask,
    id: string,
    waiter: Deferred.Deferred<unknown, unknown> | undefined
  ) => TaskHandle<unknown, unknown>
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  readonly pause: (id: string) => Effect.Effect<boolean, TaskNotFound | StoreError>
  /** Withdraws a pause asked of a running task that nothing has carried out yet (its holder, here or elsewhere). */
  readonly withdrawPause: (id: string) => Effect.Effect<void, StoreError>
  /** Makes a waiting task look at the store again now (a signal arrived, a timer was set earlier). */
  readonly wake: (id: string) => Effect.Effect<void>
}

/**
 * A task's driver in this process. Drivers start at once, inside `submit`: until the fork returns, the fiber is
 * not known yet, and a cancel that comes in meanwhile (the body resolved something its caller waits for) waits
 * for it through `onFiber`.
 */
interface DriverEntry {
  fiber: Fiber.Fiber<AnyExit | undefined> | undefined
  onFiber: Deferred.Deferred<Fiber.Fiber<AnyExit | undefined>> | undefined
  /** The driver executed at least one attempt (it did not only find the task taken). */
  executed: boolean
}

const setFiber = (entry: DriverEntry, fiber: Fiber.Fiber<AnyExit | undefined>) => {
  entry.fiber = fiber
  if (entry.onFiber !== undefined) Deferred.doneUnsafe(entry.onFiber, Exit.succeed(fiber))
}

/** Paused until someone resumes it (not a body's pause until a time). */
const isPausedFromOutside = (reason: SuspendReason | undefined) =>
  reason?._tag === "Paused" && reason.until === undefined

/** The fiber of a driver, waiting for it when the driver is still being started. */
const fiberOf = (entry: DriverEntry | undefined): Effect.Effect<Fiber.Fiber<AnyExit | undefined> | undefined> => {
  if (entry === undefined || entry.fiber !== undefined) return Effect.succeed(entry?.fiber)
  entry.onFiber ??= Deferred.makeUnsafe()
  return Deferred.await(entry.onFiber)
}

export const makeDriver = (options: DriverOptions): Driver => {
  const { store, events, hooks } = options
  const graceMillis = Duration.toMillis(options.cancelGracePeriod)
  const leaseMillis = Duration.toMillis(options.leaseDuration)
  const slots = new Map<string, Semaphore.Semaphore>()
  // The driver fiber of each task driven here; an entry is removed only by the driver that put it there.
  const active = new Map<string, DriverEntry>()
  const waiters = new Map<string, Deferred.Deferred<unknown, unknown>>()
  const wakes = new Map<string, Deferred.Deferred<void>>()
  const cancelRequested = new Set<string>()
  const pauseRequested = new Set<string>()
  // The attempt each driver here is executing; `stopped` is set by a pause that came before the fiber existed.
  interface AttemptSlot {
    readonly token: number
    fiber: Fiber.Fiber<unknown, unknown> | undefined
    stopped: Deferred.Deferred<void> | undefined
    /** Set once the attempt's outcome is in the store; `recorded` is made only for a pause that waits for it. */
    isRecorded: boolean
    recorded: Deferred.Deferred<void> | undefined
    /** The record the attempt's outcome left (undefined when the store refused it). */
    left: TaskRecord | undefined
    /** A heartbeat found the lease lost before the body started: it does not start. */
    fenced: boolean
    /** This runtime interrupted the attempt (cancel, pause, shutdown, lost lease), not the body itself. */
    interrupted: boolean
  }

  /** Interrupts an attempt from this runtime: an interruption it did not make is the body's own failure. */
  const stopAttempt = (slot: AttemptSlot, fiber: Fiber.Fiber<unknown, unknown>) => {
    slot.interrupted = true
    return Fiber.interrupt(fiber)
  }
  const attempts = new Map<string, AttemptSlot>()
  // Tasks a cancel or pause asked from another process is being carried out for here (one at a time per task).
  const remoteRequests = new Set<string>()
  // Whether this runtime listens to the store's requests (`TaskStore.requests`): from its first attempt on.
  let listening = false

  // Creating a semaphore is synchronous, so two fibers can never create two for one key.
  const slot = (task: AnyTask, sessionId: string | undefined) => {
    const key = `${sessionId ?? ""}\u0000${task.name}`
    let semaphore = slots.get(key)
    if (semaphore === undefined) {
      semaphore = Semaphore.makeUnsafe(task.maxParallel)
      slots.set(key, semaphore)
    }
    return semaphore
  }

  /** Publishes a record's status at once (publishing never waits). */
  const publishNow = (record: TaskRecord) => {
    events.publishUnsafe({
      _tag: "StatusChanged",
      taskId: record.id,
      taskName: record.name,
      status: record.status,
      attempt: record.attempt,
      error: record.error,
      suspendReason: record.suspendReason
    })
  }
  const publish = (record: TaskRecord) => Effect.sync(() => publishNow(record))

  const runHooks = <K extends keyof LifecycleHooks<unknown>>(
    name: K,
    call: (hook: NonNullable<LifecycleHooks<unknown>[K]>) => Effect.Effect<void, never, unknown>
  ): Effect.Effect<void> => {
    if (hooks.length === 0) return Effect.void
    return Effect.forEach(
      hooks,
      (hook) => {
        const fn = hook[name]
        return fn === undefined ? Effect.void : call(fn as NonNullable<LifecycleHooks<unknown>[K]>)
      },
      { discard: true }
    ).pipe(Effect.provideContext(options.context)) as Effect.Effect<void>
  }

  // What every body sees: the runtime's context and its events; `TaskInfo` is added per attempt.
  const bodyContext = Context.add(options.context, TaskEvents, events)
  const provideServices = (effect: Effect.Effect<unknown, unknown, unknown>, info: TaskInfo["Service"]) => {
    const withPlugins = options.pluginLayer === undefined ? effect : Effect.provide(effect, options.pluginLayer)
    return Effect.provideContext(withPlugins, Context.add(bodyContext, TaskInfo, info)) as Effect.Effect<
      unknown,
      unknown
    >
  }

  /** One attempt of the body: decode the input, run with services and timeout. Fails with the body's error. */
  const attempt = (task: AnyTask, info: TaskInfo["Service"], input: unknown) => {
    const decoded = codecsOf(task).decodeInput(input)
    // An input decoded at once (an `Exit`) goes straight to the body.
    if (!Exit.isExit(decoded)) return Effect.flatMap(decoded, (value) => run(task, info, value))
    return Exit.isSuccess(decoded) ? run(task, info, decoded.value) : decoded
  }

  /** The body with its services, under the task's timeout. */
  const run = (task: AnyTask, info: TaskInfo["Service"], decoded: unknown) => {
    const body = provideServices(task.body(decoded), info)
    if (Option.isNone(task.timeout)) return body
    const timeoutMillis = Duration.toMillis(task.timeout.value)
    return Effect.timeoutOrElse(body, {
      duration: task.timeout.value,
      orElse: () =>
        Effect.fail(new TaskTimeout({ taskId: info.id, taskName: info.name, attempt: info.attempt, timeoutMillis }))
    })
  }

  const finishHooks = (info: TaskInfo["Service"], record: TaskRecord, transition: Transition) => {
    switch (transition._tag) {
      case "Completed":
        return runHooks("onSuccess", (f) => f(info, transition.output)).pipe(
          Effect.andThen(runHooks("onFinish", (f) => f(info, record.status)))
        )
      case "Failed":
        return runHooks("onFailure", (f) => f(info, transition.error as StoredError)).pipe(
          Effect.andThen(runHooks("onFinish", (f) => f(info, record.status)))
        )
      case "Cancelled":
        return runHooks("onFinish", (f) => f(info, record.status))
      case "Suspended":
        return runHooks("onSuspend", (f) => f(info, transition.reason))
      case "Requeued":
        return Effect.void
    }
  }

  /**
   * Executes one claimed attempt and records its outcome. Uninterruptible except for the body itself, so an
   * interruption always ends in exactly one recorded transition. Written with combinators, not `Effect.gen`: this
   * runs once per attempt, and a generator costs about 2 µs here against 0.2 µs for a `flatMap` (bench/runtime.ts).
   */
  const execute = (task: AnyTask, record: TaskRecord) =>
    Effect.uninterruptibleMask((restore) => executeWith(restore, task, record))

  /** `execute`, within an uninterruptible region whose `restore` makes the body interruptible. */
  const executeWith = (
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
    task: AnyTask,
    record: TaskRecord
  ) =>
    Effect.suspend(() => {
      const info = TaskInfo.of({
        id: record.id,
        name: record.name,
        attempt: record.attempt,
        sessionId: record.sessionId,
        parentId: record.parentId,
        shouldStop: Effect.sync(() => cancelRequested.has(record.id)),
        fencingToken: record.fencingToken
      })
      // The attempt runs in its own fiber, so a pause from outside can stop it while the driver goes on.
      const slot: AttemptSlot = {
        token: record.fencingToken,
        fiber: undefined,
        stopped: undefined,
        isRecorded: false,
        recorded: undefined,
        left: undefined,
        fenced: false,
        interrupted: false
      }
      const forkAttempt = () => {
        // Suspended, so that a body that throws instead of returning an Effect fails its own fiber. A pause that came
        // while the `onStart` hooks ran stops the attempt before its body starts.
        const isStopped = slot.stopped !== undefined || slot.fenced
        if (isStopped) slot.interrupted = true
        const body = isStopped ? Effect.interrupt : Effect.suspend(() => attempt(task, info, record.input))
        return Effect.forkChild(restore(body), { startImmediately: true })
      }
      const awaitAttempt = (attemptFiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<AnyExit> => {
        slot.fiber = attemptFiber
        // A pause asked while the fiber was being started: carry it out now.
        const early = slot.stopped === undefined ? Effect.void : Effect.asVoid(stopAttempt(slot, attemptFiber))
        return Effect.andThen(
          early,
          Effect.flatMap(Effect.exit(restore(Fiber.await(attemptFiber))), (awaited) =>
            // The driver itself was interrupted: stop the attempt and take its end.
            Exit.isSuccess(awaited)
              ? Effect.succeed(awaited.value)
              : Effect.andThen(stopAttempt(slot, attemptFiber), Fiber.await(attemptFiber))
          )
        )
      }
      // The outcome's event is published before a pause waiting for the outcome goes on, so events keep their order.
      const markRecorded = (exit: Exit.Exit<TaskRecord, StoreError | LeaseLost>) =>
        Effect.sync(() => {
          attempts.delete(record.id)
          slot.isRecorded = true
          if (Exit.isSuccess(exit)) {
            slot.left = exit.value
            publishNow(exit.value)
          }
          if (slot.recorded !== undefined) Deferred.doneUnsafe(slot.recorded, Exit.void)
        })
      const recordEnding = (end: Ending) => {
        const transition = end.transition
        const finish = Effect.onExit(
          Effect.catchTag(store.finish(record.id, record.fencingToken, transition), "LeaseLost", (lost) =>
            landed(record, transition, lost)
          ),
          markRecorded
        )
        const written =
          transition._tag === "Suspended" && hooks.length > 0
            ? Effect.andThen(
                runHooks("beforeSuspend", (f) => f(info, transition.reason)),
                finish
              )
            : finish
        return Effect.flatMap(written, (finished) => {
          // Cancelled or paused instead, as another process asked (`requestCancel`, `requestPause`) before this
          // attempt heard of it.
          const cancelledInstead = finished.status === "cancelled" && transition._tag !== "Cancelled"
          const pausedInstead =
            finished.status === "suspended" &&
            isPausedFromOutside(finished.suspendReason) &&
            !(transition._tag === "Suspended" && isPausedFromOutside(transition.reason))
          const recorded: Transition = cancelledInstead
            ? { _tag: "Cancelled" }
            : pausedInstead
              ? { _tag: "Suspended", reason: { _tag: "Paused" } }
              : transition
          const result = {
            record: finished,
            exit: cancelledInstead ? Exit.fail(new TaskCancelled({ taskId: record.id })) : end.exit
          }
          // Without plugin hooks and for anything but a cancel, nothing is left to do: no further step.
          if (hooks.length === 0 && recorded._tag !== "Cancelled") return Effect.succeed(result)
          // A retry paused instead did not run the `beforeSuspend` hooks a suspension runs: they run now.
          const late =
            pausedInstead && transition._tag === "Requeued"
              ? runHooks("beforeSuspend", (f) => f(info, { _tag: "Paused" }))
              : Effect.void
          return late.pipe(
            Effect.andThen(finishHooks(info, finished, recorded)),
            Effect.andThen(recorded._tag === "Cancelled" ? cancelChildren(record.id) : Effect.void),
            Effect.as(result)
          )
        })
      }
      const afterAttempt = (exit: AnyExit) => {
        if (slot.stopped !== undefined) Deferred.doneUnsafe(slot.stopped, Exit.void)
        const ending = decideEnding(task, record, exit, {
          cancel: cancelRequested.has(record.id),
          pause: pauseRequested.delete(record.id),
          stopped: slot.interrupted
        })
        // Decided at once (an `Exit`): recorded without another step.
        return Exit.isExit(ending) && Exit.isSuccess(ending)
          ? recordEnding(ending.value as Ending)
          : Effect.flatMap(ending, recordEnding)
      }
      // This function runs when `execute` runs, once: it can publish and fork without a step of its own.
      publishNow(record)
      // Cancelled or paused while its claim was on the way: the body does not start, and the attempt records the
      // cancel or the pause (there is nothing for a pause or a heartbeat to stop).
      if (cancelRequested.has(record.id) || pauseRequested.has(record.id)) {
        slot.interrupted = true
        return afterAttempt(Exit.interrupt())
      }
      // Known as executing from here on, so that a pause during the `onStart` hooks finds the attempt.
      attempts.set(record.id, slot)
      const entry = active.get(record.id)
      if (entry !== undefined) entry.executed = true
      const forked =
        hooks.length === 0
          ? forkAttempt()
          : Effect.andThen(
              runHooks("onStart", (f) => f(info)),
              Effect.suspend(forkAttempt)
            )
      const started = listening
        ? forked
        : Effect.andThen(
            listenForRequests,
            Effect.suspend(() => forked)
          )
      return Effect.flatMap(started, (attemptFiber) => {
        // A body that needed no wait has ended already (the fiber started at once): take its end as it is.
        const ended = slot.stopped === undefined ? attemptFiber.pollUnsafe() : undefined
        if (ended !== undefined) {
          slot.fiber = attemptFiber
          return afterAttempt(ended)
        }
        return Effect.flatMap(awaitAttempt(attemptFiber), afterAttempt)
      })
    })

  /**
   * A `finish` refused with `LeaseLost` may be this attempt's own write, committed by a try whose reply was lost (a
   * dropped connection, retried): then the task is left as the transition leaves it, still under this attempt's
   * token, and the attempt ends as if the write had answered (its event published, its hooks run).
   */
  const landed = (record: TaskRecord, transition: Transition, lost: LeaseLost) =>
    Effect.flatMap(store.get(record.id), (found) =>
      Option.isSome(found) &&
      found.value.fencingToken === record.fencingToken &&
      (found.value.status === statusAfter[transition._tag] ||
        // a suspension or requeue recorded as `cancelled` or paused: another process had asked for it
        ((found.value.status === "cancelled" || found.value.status === "suspended") &&
          (transition._tag === "Suspended" || transition._tag === "Requeued")))
        ? Effect.succeed(found.value)
        : Effect.fail(lost)
    )

  /** Waits until `millis` have passed (forever when undefined) or someone wakes the task. */
  const sleepOrWake = (id: string, millis: number | undefined) =>
    Effect.suspend(() => {
      let wake = wakes.get(id)
      if (wake === undefined) {
        wake = Deferred.makeUnsafe<void>()
        wakes.set(id, wake)
      }
      const woken = Deferred.await(wake)
      // A task that runs elsewhere is looked at again every poll interval, whatever the timer says.
      const poll = Duration.toMillis(options.pollInterval)
      const wait = millis === undefined ? poll : Math.min(millis, poll)
      return Effect.raceFirst(woken, Effect.sleep(wait))
    }).pipe(Effect.ensuring(Effect.sync(() => wakes.delete(id))))

  const readRecord = (id: string) =>
    Effect.flatMap(
      store.get(id),
      Option.match({ onNone: () => Effect.fail(new TaskNotFound({ taskId: id })), onSome: Effect.succeed })
    )

  /**
   * The loop of one task's driver; returns the task's final result. `claimed`: `initial` is a claim this driver
   * holds already (the task was created with its lease), so the first round executes it without claiming.
   */
  const loop = (
    task: AnyTask,
    id: string,
    slotHeld: boolean,
    initial: TaskRecord | undefined,
    claimed: boolean,
    detach: boolean
  ): Effect.Effect<AnyExit | undefined, StoreError | TaskNotFound> =>
    Effect.suspend(() => {
      let holding = slotHeld
      let semaphore: Semaphore.Semaphore | undefined
      const release = Effect.suspend(() => {
        if (!holding || semaphore === undefined) return Effect.void
        holding = false
        return Effect.asVoid(semaphore.release(1))
      })

      /** Executes a claimed attempt, then goes on with the record it left behind (read again after a suspension). */
      const afterExecute = (
        result: Executed | undefined
      ): Effect.Effect<AnyExit | undefined, StoreError | TaskNotFound> => {
        const next =
          result !== undefined && isTerminal(result.record.status)
            ? Effect.succeed(result.exit)
            : // After a suspension, read again: a hook may have made the task runnable (a signal already waiting).
              round(result?.record.status === "suspended" ? undefined : result?.record)
        return holding ? Effect.andThen(release, next) : next
      }
      /** Goes on after an executed attempt; one whose outcome the store refused (`LeaseLost`) reads the task again. */
      const afterExecuted = (
        executed: Effect.Effect<Executed, StoreError | LeaseLost>
      ): Effect.Effect<AnyExit | undefined, StoreError | TaskNotFound> =>
        Effect.matchEffect(executed, {
          onFailure: (error) => (error._tag === "LeaseLost" ? afterExecute(undefined) : Effect.fail(error)),
          onSuccess: afterExecute
        })
      const executeClaimed = (record: TaskRecord) => afterExecuted(execute(task, record))

      const waitThenRound = (millis: number | undefined) =>
        // A worker's driver lets go of a task that is not runnable; the worker finds it again when it is.
        detach && !waiters.has(id)
          ? Effect.succeed(undefined)
          : Effect.andThen(sleepOrWake(id, millis), round(undefined))

      const takeSlot = (record: TaskRecord) => {
        if (!Number.isFinite(task.maxParallel)) return Effect.void
        semaphore ??= slot(task, record.sessionId)
        if (holding) return Effect.void
        return Effect.map(semaphore.take(1), () => {
          holding = true
        })
      }

      // A claim the store has taken is executed whatever comes: an interruption during its write (a cancel, a
      // shutdown) then stops the attempt at once, and the attempt records how it ended. Interrupted between the two,
      // the task would be left `running` under this runtime's lease with nobody executing it.
      const claimAndExecute = (record: TaskRecord, now: number) =>
        Effect.andThen(
          takeSlot(record),
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(
              store.claim(id, {
                owner: options.runtimeId,
                expiresAt: now + leaseMillis,
                maxParallel: Number.isFinite(task.maxParallel) ? task.maxParallel : undefined
              }),
              (claim) =>
                Option.isSome(claim) ? Effect.exit(executeWith(restore, task, claim.value)) : Effect.succeed(undefined)
            )
          )
        ).pipe(
          Effect.flatMap((executed) =>
            executed === undefined
              ? // Taken by another worker, or its session's maxParallel is reached in other processes: look later.
                Effect.andThen(release, waitThenRound(undefined))
              : afterExecuted(executed)
          )
        )

      const decide = (record: TaskRecord): Effect.Effect<AnyExit | undefined, StoreError | TaskNotFound> => {
        if (isTerminal(record.status)) return Effect.exit(exitFromRecord(task, record))
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          // Not runnable now: running under a live lease elsewhere, due later, or waiting for a wake.
          const waitMillis =
            record.status === "running"
              ? record.leaseExpiresAt !== undefined && record.leaseExpiresAt < now
                ? 0
                : Math.max(1, (record.leaseExpiresAt ?? now) - now + 1)
              : record.status === "suspended" && record.runAt === undefined
                ? Number.POSITIVE_INFINITY
                : record.runAt !== undefined && record.runAt > now
                  ? record.runAt - now
                  : 0
          if (waitMillis > 0) return waitThenRound(Number.isFinite(waitMillis) ? waitMillis : undefined)
          return claimAndExecute(record, now)
        })
      }

      /** One round: look at the record (the one the last round left behind, or read afresh) and act on it. */
      const round = (known: TaskRecord | undefined) =>
        known === undefined ? Effect.flatMap(readRecord(id), decide) : decide(known)

      const first = claimed && initial !== undefined ? executeClaimed(initial) : round(initial)
      // A task without a limit never holds a slot: nothing to give back.
      return Number.isFinite(task.maxParallel) ? Effect.ensuring(first, release) : first
    })

  /** The driver fiber's body: the loop, then cleanup; an interrupt while idle cancels if a cancel was asked. */
  const drive = (
    task: AnyTask,
    id: string,
    slotHeld: boolean,
    entry: DriverEntry,
    from: StartFrom
  ): Effect.Effect<AnyExit | undefined> =>
    loop(task, id, slotHeld, from.initial, from.claimed === true, from.detach === true).pipe(
      Effect.catch((error) => Effect.succeed(Exit.fail(error) as AnyExit)),
      Effect.onExit((exit) => {
        const settle = Effect.sync(() => {
          if (active.get(id) !== entry) return
          active.delete(id)
          const waiter = waiters.get(id)
          waiters.delete(id)
          if (waiter === undefined) {
            // nobody here waits for it (a worker's driver let it go)
          } else if (Exit.isSuccess(exit)) {
            if (exit.value !== undefined) Deferred.doneUnsafe(waiter, exit.value)
          } else if (cancelRequested.has(id)) {
            Deferred.doneUnsafe(waiter, Exit.fail(new TaskCancelled({ taskId: id })))
          } else {
            Deferred.doneUnsafe(waiter, exit)
          }
          cancelRequested.delete(id)
          // a pause asked while a claim was on its way, left over when the store applied it (or the claim failed)
          pauseRequested.delete(id)
        })
        // Interrupted while idle after a cancel was asked: the task is cancelled in the store, then its waiter told.
        if (!(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause) && cancelRequested.has(id))) return settle
        // The waiter is told and the entry removed however the store answers (a failed cancel leaves the task as
        // it was, for a later cancel or resume).
        return Effect.flatMap(store.cancelIdle(id), (cancelled) =>
          Option.isSome(cancelled) ? publish(cancelled.value) : Effect.void
        ).pipe(Effect.exit, Effect.andThen(settle))
      }),
      Effect.provideContext(options.context)
    ) as Effect.Effect<AnyExit | undefined>

  const waiterFor = (id: string) => {
    let waiter = waiters.get(id)
    if (waiter === undefined) {
      waiter = Deferred.makeUnsafe<unknown, unknown>()
      waiters.set(id, waiter)
    }
    return waiter
  }

  // Drivers a worker started that have not let go of their task yet: what counts against its concurrency.
  let detachedAlive = 0
  // Completed and replaced whenever a worker's driver ends after executing, so a worker that was full looks for
  // work again at once; a driver that only found its task taken by another process does not count.
  let completed = 0
  let freedSignal = Deferred.makeUnsafe<void>()

  const start = (task: AnyTask, id: string, slotHeld: boolean, from: StartFrom = {}) =>
    Effect.suspend(() => {
      const detach = from.detach === true
      if (detach && active.has(id)) return Effect.succeed(undefined)
      if (detach) detachedAlive++
      const waiter = detach ? undefined : waiterFor(id)
      if (active.has(id)) return Effect.succeed(waiter)
      const entry: DriverEntry = { fiber: undefined, onFiber: undefined, executed: false }
      active.set(id, entry)
      const driven = detach
        ? Effect.ensuring(
            drive(task, id, slotHeld, entry, from),
            Effect.sync(() => {
              detachedAlive--
              if (!entry.executed) return
              completed++
              Deferred.doneUnsafe(freedSignal, Exit.void)
              freedSignal = Deferred.makeUnsafe<void>()
            })
          )
        : drive(task, id, slotHeld, entry, from)
      // Started at once: a short task may be done before `submit` returns, without a trip through the scheduler.
      return Effect.map(Effect.forkIn(driven, options.scope, { startImmediately: true }), (fiber) => {
        setFiber(entry, fiber)
        return waiter
      })
    })

  const runHere: Driver["runHere"] = (task, id, slotHeld, from = {}) =>
    Effect.suspend((): ReturnType<Driver["runHere"]> => {
      const waiter = waiterFor(id)
      // Already driven here (a run with the idempotency key of a task submitted here): wait for that driver.
      if (active.has(id)) return Effect.succeed({ waiter, driver: undefined })
      const entry: DriverEntry = { fiber: undefined, onFiber: undefined, executed: false }
      active.set(id, entry)
      return Effect.map(
        Effect.forkChild(drive(task, id, slotHeld, entry, from), { startImmediately: true }),
        (fiber) => {
          setFiber(entry, fiber)
          return { waiter, driver: fiber }
        }
      )
    })

  const wake = (id: string) =>
    Effect.sync(() => {
      const deferred = wakes.get(id)
      if (deferred !== undefined) Deferred.doneUnsafe(deferred, Exit.void)
    })

  const cancelChildren = (parentId: string): Effect.Effect<void> =>
    Effect.gen(function* () {
      let cursor: string | undefined
      do {
        const page = yield* store.list({ parentId, cursor, limit: 500 })
        for (const child of page.items) {
          if (!isTerminal(child.status)) yield* cancel(child.id)
        }
        cursor = page.nextCursor
      } while (cursor !== undefined)
    }).pipe(Effect.ignore)

  const cancel = (id: string): Effect.Effect<void, TaskNotFound | StoreError> =>
    Effect.gen(function* () {
      const record = yield* readRecord(id)
      if (isTerminal(record.status)) return
      // Running in another process (a driver here may only be waiting for its lease): ask it, through the store. It
      // cancels the task at its next heartbeat, or when the attempt ends; a driver here sees how the task ends.
      const elsewhere = record.status === "running" && record.leaseOwner !== options.runtimeId
      if (elsewhere && (yield* store.requestCancel(id))) return
      cancelRequested.add(id)
      const fiber = yield* fiberOf(active.get(id))
      if (fiber !== undefined) {
        // A running body may see `shouldStop` and end by itself within the grace period; then it is interrupted.
        if (graceMillis > 0 && record.status === "running") {
          yield* Effect.timeoutOption(Fiber.await(fiber), graceMillis)
        }
        yield* Fiber.interrupt(fiber)
      }
      // A driver interrupted before it started ran no finalizer: an idle task is cancelled here in any case. Claimed
      // by another process meanwhile, it is asked of that process (a few tries, for a task that keeps changing).
      for (let tries = 0; tries < 3; tries++) {
        const cancelled = yield* store.cancelIdle(id)
        if (Option.isSome(cancelled)) {
          yield* publish(cancelled.value)
          break
        }
        const now = yield* readRecord(id)
        if (now.status !== "running" || now.leaseOwner === options.runtimeId || (yield* store.requestCancel(id))) break
      }
      // Cancelled here, by its driver's end, or by its attempt: its unfinished children are cancelled too.
      const after = yield* readRecord(id)
      if (after.status === "cancelled") yield* cancelChildren(id)
      active.delete(id)
      const waiter = waiters.get(id)
      waiters.delete(id)
      if (waiter !== undefined) Deferred.doneUnsafe(waiter, Exit.fail(new TaskCancelled({ taskId: id })))
      cancelRequested.delete(id)
    }).pipe(
      Effect.onExit((exit) =>
        Effect.sync(() => {
          // Interrupted (a body cancelling its own task is, by that cancel): the request stays for the driver still
          // running here, which reads it when its attempt ends and clears it when it ends. Otherwise it goes.
          if (Exit.isSuccess(exit) || !Cause.hasInterruptsOnly(exit.cause) || !active.has(id)) {
            cancelRequested.delete(id)
          }
        })
      )
    )

  /**
   * Pauses a task until it is resumed: a running attempt here is interrupted (its finalizers run) and recorded
   * `suspended`; a waiting task is suspended in the store; a task running in another process is asked, through the
   * store, and this returns once it is asked. `false` when the task has ended.
   */
  const pause = (id: string, tries = 3): Effect.Effect<boolean, TaskNotFound | StoreError> =>
    Effect.gen(function* () {
      const record = yield* readRecord(id)
      if (isTerminal(record.status)) return false
      if (record.status === "running") {
        const slot = attempts.get(id)
        if (slot === undefined) {
          // This runtime's claim of it has committed and its reply is on its way: the attempt stops before its body.
          const claimedHere = record.leaseOwner === options.runtimeId && active.has(id)
          if (claimedHere) pauseRequested.add(id)
          // Running in another process: ask its holder, through the store. It pauses the task when it hears of it;
          // an attempt that ends first, or a claim, records it paused.
          if (yield* store.requestPause(id)) return true
          // It stopped running meanwhile: look again.
          if (claimedHere) pauseRequested.delete(id)
          return tries > 1 ? yield* pause(id, tries - 1) : false
        }
        pauseRequested.add(id)
        const stopped = Effect.gen(function* () {
          if (slot.fiber !== undefined) {
            yield* stopAttempt(slot, slot.fiber)
          } else {
            slot.stopped = Deferred.makeUnsafe<void>()
            yield* Deferred.await(slot.stopped)
          }
          if (!slot.isRecorded) {
            slot.recorded ??= Deferred.makeUnsafe<void>()
            yield* Deferred.await(slot.recorded)
          }
        })
        // Taken by the attempt's end if it came in time; otherwise (or if this call is interrupted) it must not apply
        // to a later attempt.
        yield* Effect.ensuring(
          stopped,
          Effect.sync(() => pauseRequested.delete(id))
        )
        if (slot.left?.status === "suspended" && isPausedFromOutside(slot.left.suspendReason)) return true
        // The body had ended before the pause came (its outcome was being recorded): the pause was not applied.
        // Pause the task as that outcome left it (a retry to come is paused).
        return yield* pause(id, tries)
      }
      const paused = yield* store.suspendIdle(id, { _tag: "Paused" })
      if (Option.isSome(paused)) yield* publish(paused.value)
      if (Option.isSome(paused)) return true
      // Claimed meanwhile (here or elsewhere): look again.
      return tries > 1 ? yield* pause(id, tries - 1) : false
    })

  const withdrawPause = (id: string) =>
    Effect.suspend(() => {
      // a pause waiting here for this runtime's claim to come back (one carried out on an attempt here stays)
      if (!attempts.has(id)) pauseRequested.delete(id)
      return Effect.asVoid(store.withdrawPause(id))
    })

  /**
   * Keeps the leases of every attempt executing here, every third of the lease's duration, from one fiber. If the
   * store answers that another attempt took a task, this attempt is interrupted at once (self-fencing); a beat the
   * store could not take is tried again at the next one (the lease outlasts two misses).
   */
  const beat = (id: string, slot: AttemptSlot): Effect.Effect<void> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => store.heartbeat(id, slot.token, now + leaseMillis)).pipe(
      Effect.catchTag("LeaseLost", () =>
        Effect.suspend(() => {
          // Lost while its onStart hooks run: the body will not start.
          if (slot.fiber === undefined) {
            slot.fenced = true
            return Effect.void
          }
          // Interrupt without waiting for the attempt's finalizers, so the other leases are renewed on time.
          return Effect.asVoid(Effect.forkIn(stopAttempt(slot, slot.fiber), options.scope))
        })
      ),
      // Asked from another process: carried out here as a local cancel or pause is (a cancel's grace period
      // included), once at a time.
      Effect.catchTag("CancelRequested", () => carryOut(id, slot, cancel(id))),
      Effect.catchTag("PauseRequested", () => carryOut(id, slot, pause(id))),
      Effect.catchTag("StoreError", () => Effect.void)
    )

  /** Carries out a request another process made of the attempt in `slot`, in a fiber of its own, once at a time. */
  const carryOut = (id: string, slot: AttemptSlot, request: Effect.Effect<unknown, unknown>) =>
    Effect.suspend(() => {
      if (attempts.get(id) !== slot || remoteRequests.has(id)) return Effect.void
      remoteRequests.add(id)
      const carried = Effect.ensuring(
        Effect.ignore(request),
        Effect.sync(() => remoteRequests.delete(id))
      )
      return Effect.asVoid(Effect.forkIn(carried, options.scope))
    })

  /**
   * From this runtime's first attempt on, a request another process makes of a task executing here (a cancel, a
   * pause) is heard at once: its heartbeat is taken now, and carries it. Missed, it comes with the next heartbeat.
   */
  const listenForRequests = Effect.suspend(() => {
    if (listening) return Effect.void
    listening = true
    // A store whose stream ends or fails (against its contract) is listened to again from the next attempt on.
    const heard = Stream.runForEach(store.requests, (id) =>
      Effect.suspend(() => {
        const slot = attempts.get(id)
        return slot === undefined ? Effect.void : beat(id, slot)
      })
    ).pipe(
      Effect.catchCause((cause) => Effect.logWarning("the store's requests stopped; heartbeats carry them", cause)),
      Effect.ensuring(
        Effect.sync(() => {
          listening = false
        })
      )
    )
    // started at once: a store that subscribes synchronously (in memory) hears a request asked right after
    return Effect.asVoid(Effect.forkIn(heard, options.scope, { startImmediately: true }))
  })

  const heartbeats: Effect.Effect<never> = Effect.forever(
    Effect.andThen(
      Effect.sleep(Math.max(1, Math.floor(leaseMillis / 3))),
      Effect.suspend(() =>
        Effect.forEach(Array.from(attempts.entries()), ([id, slot]) => beat(id, slot), {
          concurrency: 8,
          discard: true
        })
      )
    )
  )

  const handle = makeHandles({
    events,
    readRecord,
    waiters,
    cancel,
    signal: options.signal,
    pollInterval: options.pollInterval
  })

  return {
    heartbeats,
    slot,
    publish,
    publishNow,
    start: start as Driver["start"],
    executing: () => Math.max(attempts.size, detachedAlive),
    completed: () => completed,
    freed: Effect.suspend(() => Deferred.await(freedSignal)),
    runHere,
    handle,
    cancel,
    pause,
    withdrawPause,
    wake
  }
}
