/**
 * One attempt of a claimed task: its `onStart` hooks, its body in a fiber of its own (so a pause from outside can stop
 * it while the driver goes on), and exactly one outcome recorded with the claim's fencing token, whatever interrupts
 * it. Written with combinators, not `Effect.gen`: this runs once per attempt, and a generator costs about 2 µs here
 * against 0.2 µs for a `flatMap` (bench/runtime.ts).
 */
import { Deferred, Effect, Exit, Fiber, Option, type Tracer } from "effect"
import type { LeaseLost, StoreError } from "../../stores/errors.ts"
import { isTerminal, type TaskRecord, type TaskStatus } from "../../stores/TaskRecord.ts"
import { type Transition, waitTotal } from "../../stores/TaskStore.ts"
import { TaskCancelled } from "../errors.ts"
import { TaskInfo } from "../TaskInfo.ts"
import type { BodyRunner } from "./body.ts"
import { type Control, isPausedFromOutside } from "./control.ts"
import type { Core } from "./core.ts"
import type { HookRunner } from "./hooks.ts"
import { type AnyExit, type Attempt, interruptAttempt, type LiveTask } from "./LiveTask.ts"
import type { Leases } from "./leases.ts"
import { decideEnding, type Ending } from "./outcome.ts"
import type { AnyTask } from "./registry.ts"
import { Attribute, parentSpanOf, rootIdOf, SpanName, taskAttributes } from "./tracing.ts"

/** An attempt recorded: the record it left, and the result for waiters here if it ended the task. */
export interface Executed {
  readonly record: TaskRecord
  readonly exit: AnyExit
}

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Executes one claimed attempt and records its outcome, within an uninterruptible region whose `restore` makes the
 * body interruptible: an interruption always ends in exactly one recorded transition.
 */
export type ExecuteAttempt = (
  restore: Restore,
  live: LiveTask,
  task: AnyTask,
  record: TaskRecord
) => Effect.Effect<Executed, StoreError | LeaseLost>

/** The statuses a task may be left in by each transition `finish` records. */
const statusesAfter: { readonly [K in Transition["_tag"]]: ReadonlyArray<TaskStatus> } = {
  Completed: ["completed"],
  Failed: ["failed"],
  Cancelled: ["cancelled"],
  Suspended: ["suspended"],
  // runnable at once when the wait was over before it started
  AwaitingChildren: ["suspended", "pending"],
  Requeued: ["pending"]
}

export const makeExecuteAttempt = (
  core: Core,
  runBody: BodyRunner,
  hooks: HookRunner,
  control: Control,
  leases: Leases
): ExecuteAttempt => {
  const { store } = core

  /**
   * A `finish` refused with `LeaseLost` may be this attempt's own write, committed by a try whose reply was lost (a
   * dropped connection, retried): then the task is left as the transition leaves it, still under this attempt's
   * token, and the attempt ends as if the write had answered (its event published, its hooks run).
   */
  const landed = (record: TaskRecord, transition: Transition, lost: LeaseLost) =>
    Effect.flatMap(store.get(record.id), (found) =>
      Option.isSome(found) &&
      found.value.fencingToken === record.fencingToken &&
      (statusesAfter[transition._tag].includes(found.value.status) ||
        // a suspension or requeue recorded as `cancelled` or paused: another process had asked for it
        ((found.value.status === "cancelled" || found.value.status === "suspended") &&
          (transition._tag === "Suspended" ||
            transition._tag === "AwaitingChildren" ||
            transition._tag === "Requeued")))
        ? Effect.succeed(found.value)
        : Effect.fail(lost)
    )

  // The attempt's span continues the task's stored trace (in any process: after a crash too); a task stored without
  // one starts a trace of its own rather than join whatever span the runtime was built in.
  const spanOptions = (record: TaskRecord, rootId: string | undefined) => {
    const parent = parentSpanOf(record.trace)
    return {
      parent,
      root: parent === undefined,
      kind: "consumer",
      attributes: taskAttributes({ ...record, rootId })
    } as const
  }

  const execute = (
    restore: Restore,
    live: LiveTask,
    task: AnyTask,
    record: TaskRecord,
    rootId: string | undefined,
    span: Tracer.Span | undefined
  ): Effect.Effect<Executed, StoreError | LeaseLost> =>
    Effect.suspend(() => {
      const info = TaskInfo.of({
        id: record.id,
        name: record.name,
        attempt: record.attempt,
        sessionId: record.sessionId,
        parentId: record.parentId,
        rootId,
        deadline: record.deadline,
        shouldStop: Effect.sync(() => live.cancelAsked),
        fencingToken: record.fencingToken,
        // a forked task starts with the steps and state its fork copied in
        firstRun: record.firstClaim === true && record.forkedFrom === undefined,
        budget: task.budget
      })
      // the transition being written, for `markRecorded` (a wait for children is kept on the task's record here)
      const transitionOf: { current: Transition | undefined } = { current: undefined }
      const attempt: Attempt = {
        token: record.fencingToken,
        fiber: undefined,
        stopped: undefined,
        isRecorded: false,
        isEnding: false,
        recorded: undefined,
        left: undefined,
        fenced: false,
        interrupted: false,
        span
      }
      const forkBody = () => {
        // Suspended, so that a body that throws instead of returning an Effect fails its own fiber. A pause that came
        // while the `onStart` hooks ran stops the attempt before its body starts.
        const isStopped = attempt.stopped !== undefined || attempt.fenced
        if (isStopped) attempt.interrupted = true
        const body = isStopped ? Effect.interrupt : Effect.suspend(() => runBody(task, info, record.input))
        return Effect.forkChild(restore(body), { startImmediately: true })
      }
      const awaitBody = (fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<AnyExit> => {
        attempt.fiber = fiber
        // A pause asked while the fiber was being started: carry it out now.
        const early = attempt.stopped === undefined ? Effect.void : interruptAttempt(attempt, fiber)
        return Effect.andThen(
          early,
          Effect.flatMap(Effect.exit(restore(Fiber.await(fiber))), (awaited) =>
            // The driver itself was interrupted: stop the body and take its end.
            Exit.isSuccess(awaited)
              ? Effect.succeed(awaited.value)
              : Effect.andThen(interruptAttempt(attempt, fiber), Fiber.await(fiber))
          )
        )
      }
      // The outcome's event is published before a pause waiting for the outcome goes on, so events keep their order.
      const markRecorded = (exit: Exit.Exit<TaskRecord, StoreError | LeaseLost>) =>
        Effect.sync(() => {
          core.live.setAttempt(live, undefined)
          attempt.isRecorded = true
          if (Exit.isSuccess(exit)) {
            attempt.left = exit.value
            core.publishNow(exit.value)
            const reason = exit.value.suspendReason
            live.awaiting =
              transitionOf.current?._tag === "AwaitingChildren" && reason?._tag === "WaitingForChildren"
                ? {
                    mode: reason.mode,
                    children: new Set(transitionOf.current.children),
                    remaining: reason.remaining,
                    adopted: false,
                    sweptAt: 0
                  }
                : undefined
          }
          if (attempt.recorded !== undefined) Deferred.doneUnsafe(attempt.recorded, Exit.void)
        })
      const recordEnding = (end: Ending) => {
        const transition = end.transition
        transitionOf.current = transition
        // only an end: a join waits for it (`endsInFlight`); a suspension's write may first run hooks of any length
        attempt.isEnding =
          transition._tag === "Completed" || transition._tag === "Failed" || transition._tag === "Cancelled"
        const finish = Effect.onExit(
          Effect.catchTag(store.finish(record.id, record.fencingToken, transition), "LeaseLost", (lost) =>
            landed(record, transition, lost)
          ),
          markRecorded
        )
        const suspending =
          transition._tag === "Suspended"
            ? transition.reason
            : transition._tag === "AwaitingChildren"
              ? ({
                  _tag: "WaitingForChildren",
                  mode: transition.mode,
                  total: waitTotal(transition),
                  remaining: transition.children.length
                } as const)
              : undefined
        const written =
          suspending !== undefined && !hooks.isEmpty
            ? Effect.andThen(
                hooks.run("beforeSuspend", (f) => f(info, suspending)),
                finish
              )
            : finish
        return Effect.flatMap(written, (finished) => {
          span?.attribute(Attribute.status, finished.status)
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
          const result: Executed = {
            record: finished,
            exit: cancelledInstead ? Exit.fail(new TaskCancelled({ taskId: record.id })) : end.exit
          }
          // A child ended: its parent and its queue go on (`Drivers.childEnded`), whatever interrupts this driver.
          const endedChild =
            record.parentId !== undefined && isTerminal(finished.status) ? core.hooks.childEnded(finished) : Effect.void
          // A cancel ends the subtree; so does a missed deadline, which its children share (queued ones would wait for
          // ever: nothing starts the queued children of a parent that has ended).
          const endsSubtree =
            recorded._tag === "Cancelled" || (recorded._tag === "Failed" && recorded.error.tag === "DeadlineExceeded")
          // Any other end of a parent leaves its running children running, but its queued ones could never start.
          const endsQueue = !endsSubtree && isTerminal(finished.status) && core.queuedParents.has(record.id)
          // Without plugin hooks, for anything but a cancel, nothing is left to do but tell a child's parent.
          if (hooks.isEmpty && !endsSubtree && !endsQueue) {
            return record.parentId === undefined ? Effect.succeed(result) : Effect.as(endedChild, result)
          }
          // A retry paused instead did not run the `beforeSuspend` hooks a suspension runs: they run now.
          const late =
            pausedInstead && transition._tag === "Requeued"
              ? hooks.run("beforeSuspend", (f) => f(info, { _tag: "Paused" }))
              : Effect.void
          return late.pipe(
            Effect.andThen(hooks.afterFinish(info, finished, recorded)),
            Effect.andThen(
              endsSubtree
                ? control.cancelChildren(record.id)
                : endsQueue
                  ? control.cancelChildren(record.id, "queued")
                  : Effect.void
            ),
            Effect.andThen(endedChild),
            Effect.as(result)
          )
        })
      }
      const afterBody = (exit: AnyExit) => {
        if (attempt.stopped !== undefined) Deferred.doneUnsafe(attempt.stopped, Exit.void)
        const pause = live.pauseAsked
        live.pauseAsked = false
        const ending = decideEnding(task, record, exit, {
          cancel: live.cancelAsked,
          pause,
          stopped: attempt.interrupted
        })
        // Decided at once (an `Exit`): recorded without another step.
        return Exit.isExit(ending) && Exit.isSuccess(ending)
          ? recordEnding(ending.value as Ending)
          : Effect.flatMap(ending, recordEnding)
      }
      // This function runs when the attempt runs, once: it can publish and fork without a step of its own.
      // the claim's answer alone says whether it was the first: its events do not carry it
      const { firstClaim: _, ...published } = record
      core.publishNow(published)
      // Cancelled or paused while its claim was on the way: the body does not start, and the attempt records the
      // cancel or the pause (there is nothing for a pause or a heartbeat to stop).
      if (live.cancelAsked || live.pauseAsked) {
        attempt.interrupted = true
        return afterBody(Exit.interrupt())
      }
      // Known as executing from here on, so that a pause during the `onStart` hooks finds the attempt.
      core.live.setAttempt(live, attempt)
      live.executed = true
      const forked = hooks.isEmpty
        ? forkBody()
        : Effect.andThen(
            hooks.run("onStart", (f) => f(info)),
            Effect.suspend(forkBody)
          )
      const started = leases.isListening()
        ? forked
        : Effect.andThen(
            leases.listenForRequests,
            Effect.suspend(() => forked)
          )
      return Effect.flatMap(started, (fiber) => {
        // A body that needed no wait has ended already (the fiber started at once): take its end as it is.
        const ended = attempt.stopped === undefined ? fiber.pollUnsafe() : undefined
        if (ended !== undefined) {
          attempt.fiber = fiber
          return afterBody(ended)
        }
        return Effect.flatMap(awaitBody(fiber), afterBody)
      })
    })

  return (restore, live, task, record) => {
    const rootId = rootIdOf(record)
    if (!core.isTracing) return execute(restore, live, task, record, rootId, undefined)
    return Effect.useSpan(SpanName.attempt, spanOptions(record, rootId), (span) =>
      Effect.withParentSpan(execute(restore, live, task, record, rootId, span), span)
    )
  }
}
