/**
 * What this runtime knows of one task it drives or acts on: its driver fiber, the attempt it executes, the cancel or
 * pause asked of it here, and who waits for it. One record per task id, in one map: `open` makes it, `release` drops
 * it once nothing refers to it.
 */
import { Deferred, Effect, Exit, Fiber, type Tracer } from "effect"
import type { ChildWaitMode, TaskRecord } from "../../stores/TaskRecord.ts"

export type AnyExit = Exit.Exit<unknown, unknown>

/** A driver's fiber: it ends with the task's result for its waiter, or `undefined` when it let the task go. */
export type DriverFiber = Fiber.Fiber<AnyExit | undefined>

/** The attempt a driver here executes, from its claim until its outcome is in the store. */
export interface Attempt {
  /** The fencing token of the claim: every write of the attempt carries it. */
  readonly token: number
  /** The body's fiber, once forked. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Made by a pause that came before the body's fiber existed: the body does not start. */
  stopped: Deferred.Deferred<void> | undefined
  /** The body has ended, and its end (completed, failed, cancelled) is being written: one store write away. */
  isEnding: boolean
  /** The outcome is in the store; `recorded` is made only for whoever waits for it (a pause, a parent's join). */
  isRecorded: boolean
  recorded: Deferred.Deferred<void> | undefined
  /** The record the outcome left (undefined when the store refused it). */
  left: TaskRecord | undefined
  /** A heartbeat found the lease lost before the body started: it does not start. */
  fenced: boolean
  /** This runtime interrupted the body (cancel, pause, shutdown, lost lease): not the body's own failure. */
  interrupted: boolean
  /** The attempt's span, when its runtime traces: what its heartbeat's news (a lease lost) is told under. */
  readonly span: Tracer.Span | undefined
}

/** Interrupts an attempt's body from this runtime: an interruption it did not make is the body's own failure. */
export const interruptAttempt = (attempt: Attempt, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> => {
  attempt.interrupted = true
  return Effect.asVoid(Fiber.interrupt(fiber))
}

export interface LiveTask {
  readonly id: string
  /** A driver runs for the task here (its fiber may still be being forked). */
  isDriven: boolean
  /** The driver's fiber, once forked. */
  driver: DriverFiber | undefined
  /** Made by a cancel that came while the driver was being forked: it gets the fiber when there is one. */
  onDriver: Deferred.Deferred<DriverFiber> | undefined
  /** The driver executed an attempt (it did not only find the task taken elsewhere). */
  executed: boolean
  /** Where the task's result goes, for `submit`'s handle and `run`'s caller. */
  waiter: Deferred.Deferred<unknown, unknown> | undefined
  /** Completed to make a waiting driver look at the store again. */
  wake: Deferred.Deferred<void> | undefined
  /** A cancel was asked here: the body sees `shouldStop`, and the attempt's end is recorded `cancelled`. */
  cancelAsked: boolean
  /** A pause was asked here and not yet carried out. */
  pauseAsked: boolean
  attempt: Attempt | undefined
  /** A cancel or pause asked from another process is being carried out here (one at a time). */
  carryingOut: boolean
  /**
   * The wait for children the task's last attempt here ended with, as the store counted it: a child that ends here
   * wakes the task's driver only when the wait is over (the store's count, kept here too), not at every end.
   */
  awaiting:
    | {
        readonly mode: ChildWaitMode
        readonly children: Set<string>
        remaining: number
        /** A wait begun elsewhere, taken up here (`internal/tree.ts`). */
        readonly adopted: boolean
        /** When this runtime last went on with the children (see `sweep` in `drive.ts`). */
        sweptAt: number
      }
    | undefined
}

/** Every live task of a runtime. */
export interface LiveTasks {
  readonly get: (id: string) => LiveTask | undefined
  /** The task's record, made if there is none. */
  readonly open: (id: string) => LiveTask
  /** Drops the record once nothing refers to it: no driver, no attempt, no request, nobody waiting. */
  readonly release: (live: LiveTask) => void
  /** Starts or ends an attempt of a driver here (`undefined` ends it). */
  readonly setAttempt: (live: LiveTask, attempt: Attempt | undefined) => void
  /** How many attempts execute here now. */
  readonly executing: () => number
  /** The tasks with an attempt executing here, for their heartbeats. */
  readonly withAttempts: () => ReadonlyArray<LiveTask>
  /** The task's waiter, made if there is none. */
  readonly waiterOf: (live: LiveTask) => Deferred.Deferred<unknown, unknown>
  /** Records the fiber of the driver just forked, for a cancel that waits for it. */
  readonly attachDriver: (live: LiveTask, fiber: DriverFiber) => void
  /** The driver's fiber, waiting for it while it is being forked; undefined when no driver runs here. */
  readonly driverOf: (live: LiveTask | undefined) => Effect.Effect<DriverFiber | undefined>
}

const isIdle = (live: LiveTask) =>
  !live.isDriven &&
  live.attempt === undefined &&
  !live.cancelAsked &&
  !live.pauseAsked &&
  !live.carryingOut &&
  live.waiter === undefined &&
  live.wake === undefined

export const makeLiveTasks = (): LiveTasks => {
  const all = new Map<string, LiveTask>()
  let executing = 0

  const open = (id: string) => {
    let live = all.get(id)
    if (live === undefined) {
      live = {
        id,
        isDriven: false,
        driver: undefined,
        onDriver: undefined,
        executed: false,
        waiter: undefined,
        wake: undefined,
        cancelAsked: false,
        pauseAsked: false,
        attempt: undefined,
        carryingOut: false,
        awaiting: undefined
      }
      all.set(id, live)
    }
    return live
  }

  const release = (live: LiveTask) => {
    if (isIdle(live) && all.get(live.id) === live) all.delete(live.id)
  }

  const setAttempt = (live: LiveTask, attempt: Attempt | undefined) => {
    if (live.attempt === undefined && attempt !== undefined) executing++
    if (live.attempt !== undefined && attempt === undefined) executing--
    live.attempt = attempt
  }

  const waiterOf = (live: LiveTask) => {
    live.waiter ??= Deferred.makeUnsafe<unknown, unknown>()
    return live.waiter
  }

  const attachDriver = (live: LiveTask, fiber: DriverFiber) => {
    live.driver = fiber
    if (live.onDriver !== undefined) Deferred.doneUnsafe(live.onDriver, Exit.succeed(fiber))
    live.onDriver = undefined
  }

  // Drivers start at once, inside `submit`: until the fork returns, the fiber is not known yet, and a cancel that
  // comes in meanwhile (the body resolved something its caller waits for) waits for it.
  const driverOf = (live: LiveTask | undefined): Effect.Effect<DriverFiber | undefined> => {
    if (live === undefined || !live.isDriven) return Effect.undefined
    if (live.driver !== undefined) return Effect.succeed(live.driver)
    live.onDriver ??= Deferred.makeUnsafe<DriverFiber>()
    return Deferred.await(live.onDriver)
  }

  return {
    get: (id) => all.get(id),
    open,
    release,
    setAttempt,
    executing: () => executing,
    withAttempts: () => Array.from(all.values()).filter((live) => live.attempt !== undefined),
    waiterOf,
    attachDriver,
    driverOf
  }
}
