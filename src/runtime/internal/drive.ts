/**
 * A task's driver: one fiber per task driven in this process, which waits until the task is runnable (its `runAt`, a
 * wake-up, a free slot), claims it, executes one attempt, and loops until the task ends. Interrupting it hands the
 * task back to the store, or cancels it when a cancel was asked.
 */
import { Cause, Clock, Deferred, Effect, Exit, type Fiber, Option, type Semaphore } from "effect"
import type { LeaseLost, StoreError } from "../../stores/errors.ts"
import { isTerminal, type TaskRecord } from "../../stores/TaskRecord.ts"
import { TaskCancelled, type TaskNotFound } from "../errors.ts"
import type { ExecuteAttempt, Executed } from "./attempt.ts"
import type { Control } from "./control.ts"
import type { Core } from "./core.ts"
import type { AnyExit, LiveTask } from "./LiveTask.ts"
import { exitFromRecord } from "./outcome.ts"
import type { AnyTask, Registry } from "./registry.ts"
import type { Slots } from "./slots.ts"
import { Attribute, parentSpanOf, rootIdOf, SpanName, taskAttributes } from "./tracing.ts"
import { makeTree } from "./tree.ts"

type WaitingForChildren = Extract<TaskRecord["suspendReason"], { _tag: "WaitingForChildren" }>

/** What a driver starts from. */
export interface StartFrom {
  /** The task's record as the caller has it, so the driver need not read it first. */
  readonly initial?: TaskRecord | undefined
  /** `initial` is a claim this runtime took for this driver (created with its lease): execute it at once. */
  readonly claimed?: boolean | undefined
}

export interface Drivers {
  /** A child ended by a write of this runtime: its parent and its queue go on (see `makeDrivers`). */
  readonly childEnded: (child: TaskRecord) => Effect.Effect<void>
  /** Drives the task in a fiber of the runtime's Scope (unless one already does); its result goes to the waiter. */
  readonly start: (
    task: AnyTask,
    id: string,
    slotHeld: boolean,
    from?: StartFrom
  ) => Effect.Effect<Deferred.Deferred<unknown, unknown>>
  /**
   * A worker's driver: it lets go of the task when it is not runnable, unless someone here waits for it; `onEnd`, if
   * given, hears whether it executed an attempt. `false` when a driver here drives the task already.
   */
  readonly startDetached: (
    task: AnyTask,
    id: string,
    from: StartFrom & { readonly onEnd?: ((executed: boolean) => void) | undefined }
  ) => Effect.Effect<boolean>
  /**
   * Drives the task in a child fiber of the caller; its result goes to the waiter. `driver` is that fiber, or
   * undefined when a driver here drives the task already (the caller then only waits for it).
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
}

type Outcome = Effect.Effect<AnyExit | undefined, StoreError | TaskNotFound>

export const makeDrivers = (
  core: Core,
  slots: Slots,
  executeAttempt: ExecuteAttempt,
  registry: Registry,
  control: Control
): Drivers => {
  const { store, live: liveTasks } = core
  const tree = makeTree(core, registry, (task, id, from) => startDetached(task, id, from))

  /**
   * Goes on with the children of a parent driven here, in a fiber of its own, at most once a poll interval. A wait
   * that no attempt here began (the parent waited in another process, or in this one before a restart) is adopted:
   * the runnable children of its whole tree are driven here, and children whose lease expired taken over, so that a
   * tree goes on without a worker. A wait begun here claims its released children: a release can be missed (on a
   * server, a claim skips a child another transaction holds, such as the parent's own wait marking it).
   */
  const sweep = (live: LiveTask, reason: WaitingForChildren, now: number) => {
    const awaiting = live.awaiting
    if (awaiting === undefined) {
      live.awaiting = {
        mode: reason.mode,
        children: new Set(),
        remaining: reason.remaining,
        adopted: true,
        sweptAt: now
      }
    } else {
      awaiting.remaining = reason.remaining
      if (now - awaiting.sweptAt < core.pollMillis || (!awaiting.adopted && !core.queuedParents.has(live.id))) {
        return Effect.void
      }
      awaiting.sweptAt = now
    }
    const going = live.awaiting?.adopted === true ? tree.adopt(live.id) : tree.claimAll(live.id)
    return Effect.forkIn(
      Effect.catchTag(going, "StoreError", (error) =>
        Effect.logWarning("could not go on with a task's children", error)
      ),
      core.scope
    )
  }

  /**
   * A child ended by a write of this runtime: its parent's wait may be over (the store counted the end in the same
   * write). A parent driven here looks at the store again now; one that no driver here waits for is read, and driven
   * here if it is runnable, so a tree goes on without a worker. For a fan-out with a bound, the sibling the end
   * released is claimed and driven here too. In a fiber of its own: the child's end does not wait for any of it.
   */
  const childEnded = (child: TaskRecord): Effect.Effect<void> => {
    const parentId = child.parentId
    if (parentId === undefined) return Effect.void
    const driven = liveTasks.get(parentId)
    if (driven?.isDriven && child.childKey !== undefined && isTerminal(child.status)) {
      const ended = core.endedChildren.get(parentId)
      if (ended === undefined) core.endedChildren.set(parentId, new Map([[child.childKey, child]]))
      else ended.set(child.childKey, child)
    }
    // A parent driven here is woken at once, before any fork: the join's latency is the parent's claim alone.
    const resumeParent = driven?.isDriven
      ? isWaitOver(driven, child)
        ? control.wake(parentId)
        : Effect.void
      : undefined
    const claimNext: Effect.Effect<boolean, StoreError> | undefined = core.queuedParents.has(parentId)
      ? tree.claimNext(parentId)
      : undefined
    // The common case, a parent driven here with no queued children: nothing to read or claim.
    if (resumeParent !== undefined && claimNext === undefined) return resumeParent
    const readParent: Effect.Effect<void, StoreError> =
      resumeParent !== undefined
        ? Effect.void
        : Effect.flatMap(store.get(parentId), (found) => {
            const parent = Option.getOrUndefined(found)
            const task = parent === undefined ? undefined : registry.get(parent.name)
            return parent?.status !== "pending" || task === undefined
              ? Effect.void
              : Effect.asVoid(startDetached(task, parent.id, { initial: parent }))
          })
    const later = Effect.asVoid(
      Effect.forkIn(
        Effect.andThen(readParent, claimNext === undefined ? Effect.void : Effect.asVoid(claimNext)).pipe(
          Effect.catchTag("StoreError", (error) => Effect.logWarning("could not go on after a child's end", error))
        ),
        core.scope
      )
    )
    return resumeParent === undefined ? later : Effect.andThen(resumeParent, later)
  }

  /**
   * Whether the end of `child` may end the wait of its parent, driven here (the store's count, kept here: a child's end
   * that the store did not count, or a wait not known here, wakes the parent to look for itself).
   */
  const isWaitOver = (parent: LiveTask, child: TaskRecord): boolean => {
    const wait = parent.awaiting
    if (wait === undefined || !wait.children.delete(child.id)) return true
    wait.remaining--
    return (
      wait.remaining <= 0 ||
      (wait.mode === "all" && child.status !== "completed") ||
      (wait.mode === "first" && child.status === "completed")
    )
  }

  /** Waits until `millis` have passed (forever when undefined) or someone wakes the task; says whether woken. */
  const sleepOrWake = (live: LiveTask, millis: number | undefined): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      live.wake ??= Deferred.makeUnsafe<void>()
      // A task that runs elsewhere is looked at again every poll interval, whatever the timer says.
      const wait = millis === undefined ? core.pollMillis : Math.min(millis, core.pollMillis)
      return Effect.raceFirst(Effect.as(Deferred.await(live.wake), true), Effect.as(Effect.sleep(wait), false))
    }).pipe(
      Effect.ensuring(
        Effect.sync(() => {
          live.wake = undefined
        })
      )
    )

  /**
   * The loop of one task's driver; returns the task's final result. `detach`: a worker's driver, which lets go of a
   * task that is not runnable (the worker finds it again when it is) unless someone here waits for it.
   */
  const loop = (task: AnyTask, live: LiveTask, slotHeld: boolean, from: StartFrom, detach: boolean): Outcome =>
    Effect.suspend(() => {
      const id = live.id
      let holding = slotHeld
      let semaphore: Semaphore.Semaphore | undefined
      const release = Effect.suspend(() => {
        if (!holding || semaphore === undefined) return Effect.void
        holding = false
        return Effect.asVoid(semaphore.release(1))
      })

      /** Goes on with the record an attempt left behind (read again after a suspension), or ends with its result. */
      const afterExecute = (result: Executed | undefined): Outcome => {
        const next =
          result !== undefined && isTerminal(result.record.status)
            ? Effect.succeed(result.exit)
            : // After a suspension, read again: a hook may have made the task runnable (a signal already waiting).
              round(result?.record.status === "suspended" ? undefined : result?.record)
        return holding ? Effect.andThen(release, next) : next
      }
      /** Goes on after an executed attempt; one whose outcome the store refused (`LeaseLost`) reads the task again. */
      const afterExecuted = (executed: Effect.Effect<Executed, StoreError | LeaseLost>): Outcome =>
        Effect.matchEffect(executed, {
          onFailure: (error) => (error._tag === "LeaseLost" ? afterExecute(undefined) : Effect.fail(error)),
          onSuccess: afterExecute
        })

      /**
       * Waits, then looks again. A suspended task woken here (a signal, a resume, the end of its wait for children)
       * is most likely runnable: it is claimed at once, one read fewer; a claim refused reads it again.
       */
      const waitThenRound = (millis: number | undefined, suspended?: TaskRecord): Outcome =>
        detach && live.waiter === undefined
          ? Effect.succeed(undefined)
          : Effect.flatMap(sleepOrWake(live, millis), (woken) =>
              woken && suspended !== undefined
                ? Effect.flatMap(Clock.currentTimeMillis, (now) => claimAndExecute(suspended, now, true))
                : round(undefined)
            )

      const takeSlot = (record: TaskRecord) => {
        if (!Number.isFinite(task.maxParallel)) return Effect.void
        semaphore ??= slots.of(task, record.sessionId)
        if (holding) return Effect.void
        return Effect.map(semaphore.take(1), () => {
          holding = true
        })
      }

      // A claim the store has taken is executed whatever comes: an interruption during its write (a cancel, a
      // shutdown) then stops the attempt at once, and the attempt records how it ended. Interrupted between the two,
      // the task would be left `running` under this runtime's lease with nobody executing it.
      const claimAndExecute = (record: TaskRecord, now: number, orRead = false): Outcome =>
        Effect.andThen(
          takeSlot(record),
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(claimIn(record, now), (claim) =>
              Option.isSome(claim)
                ? Effect.exit(executeAttempt(restore, live, task, claim.value))
                : Effect.succeed(undefined)
            )
          )
        ).pipe(
          Effect.flatMap((executed) =>
            executed === undefined
              ? // Taken by another worker, or its session's maxParallel is reached in other processes: look later.
                Effect.andThen(release, orRead ? round(undefined) : waitThenRound(undefined))
              : afterExecuted(executed)
          )
        )

      // In the task's trace; a claim of a task left running under an expired lease takes it over from a crashed
      // worker (a recovery).
      const claimIn = (record: TaskRecord, now: number) => {
        const claim = store.claim(id, {
          owner: core.runtimeId,
          expiresAt: now + core.leaseMillis,
          maxParallel: Number.isFinite(task.maxParallel) ? task.maxParallel : undefined
        })
        if (!core.isTracing) return claim
        return Effect.withSpan(claim, SpanName.claim, {
          parent: parentSpanOf(record.trace),
          root: record.trace === undefined,
          attributes: {
            ...taskAttributes({ ...record, rootId: rootIdOf(record) }),
            [Attribute.recovered]: record.status === "running" && (record.leaseExpiresAt ?? now) < now
          }
        })
      }

      const decide = (record: TaskRecord): Outcome => {
        if (isTerminal(record.status)) return Effect.exit(exitFromRecord(task, record))
        // the store's count of the wait for children, as read: the one kept here follows it
        const reason = record.suspendReason
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          reason?._tag !== "WaitingForChildren" || (detach && live.waiter === undefined)
            ? decideAt(record, now)
            : Effect.andThen(sweep(live, reason, now), decideAt(record, now))
        )
      }

      const decideAt = (record: TaskRecord, now: number): Outcome => {
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
        if (waitMillis > 0) {
          return waitThenRound(
            Number.isFinite(waitMillis) ? waitMillis : undefined,
            record.status === "suspended" ? record : undefined
          )
        }
        return claimAndExecute(record, now)
      }

      /** One round: look at the record (the one the last round left behind, or read afresh) and act on it. */
      const round = (known: TaskRecord | undefined): Outcome =>
        known === undefined ? Effect.flatMap(core.readRecord(id), decide) : decide(known)

      const claimed = from.claimed === true ? from.initial : undefined
      const first =
        claimed !== undefined
          ? afterExecuted(Effect.uninterruptibleMask((restore) => executeAttempt(restore, live, task, claimed)))
          : round(from.initial)
      // A task without a limit never holds a slot: nothing to give back.
      return Number.isFinite(task.maxParallel) ? Effect.ensuring(first, release) : first
    })

  /** The driver fiber's body: the loop, then its end told to its waiter; an interrupt while idle cancels if asked. */
  const drive = (
    task: AnyTask,
    live: LiveTask,
    slotHeld: boolean,
    from: StartFrom,
    detach: boolean
  ): Effect.Effect<AnyExit | undefined> =>
    loop(task, live, slotHeld, from, detach).pipe(
      Effect.catch((error) => Effect.succeed(Exit.fail(error) as AnyExit)),
      Effect.onExit((exit) => {
        const settle = Effect.sync(() => {
          const waiter = live.waiter
          if (waiter === undefined) {
            // nobody here waits for it (a worker's driver let it go)
          } else if (Exit.isSuccess(exit)) {
            if (exit.value !== undefined) Deferred.doneUnsafe(waiter, exit.value)
          } else if (live.cancelAsked) {
            Deferred.doneUnsafe(waiter, Exit.fail(new TaskCancelled({ taskId: live.id })))
          } else {
            Deferred.doneUnsafe(waiter, exit)
          }
          // An ended parent's queue is empty: its children's ends claim nothing more for it.
          if (Exit.isSuccess(exit) && exit.value !== undefined) core.queuedParents.delete(live.id)
          // and so are the children it read back, or did not
          core.endedChildren.delete(live.id)
          // The only place a driver's record lets go of it; a pause asked while a claim was on its way is left
          // over when the store applied it (or the claim failed), and goes too.
          live.isDriven = false
          live.driver = undefined
          live.waiter = undefined
          live.cancelAsked = false
          live.pauseAsked = false
          liveTasks.release(live)
        })
        // Interrupted while idle after a cancel was asked: the task is cancelled in the store, then its waiter told.
        if (!(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause) && live.cancelAsked)) return settle
        // The waiter is told and the record let go however the store answers (a failed cancel leaves the task as it
        // was, for a later cancel or resume).
        return Effect.flatMap(store.cancelIdle(live.id), (cancelled) =>
          Option.isSome(cancelled)
            ? Effect.andThen(core.publish(cancelled.value), childEnded(cancelled.value))
            : Effect.void
        ).pipe(Effect.exit, Effect.andThen(settle))
      }),
      Effect.provideContext(core.context)
    ) as Effect.Effect<AnyExit | undefined>

  /**
   * Forks the driver of a task that no driver here drives yet, with `forkWith`, started at once: a short task may be
   * done before `submit` returns, without a trip through the scheduler.
   */
  const fork = <A>(
    live: LiveTask,
    driven: (live: LiveTask) => Effect.Effect<AnyExit | undefined>,
    forkWith: (driven: Effect.Effect<AnyExit | undefined>) => Effect.Effect<Fiber.Fiber<AnyExit | undefined>>,
    then: (fiber: Fiber.Fiber<AnyExit | undefined>) => A
  ) => {
    live.isDriven = true
    live.executed = false
    return Effect.map(forkWith(driven(live)), (fiber) => {
      liveTasks.attachDriver(live, fiber)
      return then(fiber)
    })
  }

  const start: Drivers["start"] = (task, id, slotHeld, from = {}) =>
    Effect.suspend(() => {
      const live = liveTasks.open(id)
      const waiter = liveTasks.waiterOf(live)
      if (live.isDriven) return Effect.succeed(waiter)
      return fork(
        live,
        (l) => drive(task, l, slotHeld, from, false),
        (driven) => Effect.forkIn(driven, core.scope, { startImmediately: true }),
        () => waiter
      )
    })

  const startDetached: Drivers["startDetached"] = (task, id, from) =>
    Effect.suspend(() => {
      const live = liveTasks.open(id)
      if (live.isDriven) return Effect.succeed(false)
      const onEnd = from.onEnd
      return fork(
        live,
        (l) =>
          onEnd === undefined
            ? drive(task, l, false, from, true)
            : Effect.ensuring(
                drive(task, l, false, from, true),
                Effect.sync(() => onEnd(l.executed))
              ),
        (driven) => Effect.forkIn(driven, core.scope, { startImmediately: true }),
        () => true
      )
    })

  const runHere: Drivers["runHere"] = (task, id, slotHeld, from = {}) =>
    Effect.suspend((): ReturnType<Drivers["runHere"]> => {
      const live = liveTasks.open(id)
      const waiter = liveTasks.waiterOf(live)
      // Already driven here (a run with the idempotency key of a task submitted here): wait for that driver.
      if (live.isDriven) return Effect.succeed({ waiter, driver: undefined })
      return fork(
        live,
        (l) => drive(task, l, slotHeld, from, false),
        (driven) => Effect.forkChild(driven, { startImmediately: true }),
        (fiber) => ({ waiter, driver: fiber as Fiber.Fiber<unknown> })
      )
    })

  return { start, startDetached, runHere, childEnded }
}
