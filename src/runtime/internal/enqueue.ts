/**
 * Recording a new task: its input checked and encoded (`InvalidTaskInput` before anything is stored), a slot taken
 * first when the caller asked not to wait for one, and one write. A task without `maxParallel` is created already
 * claimed by this runtime, which drives it at once: one write fewer per task.
 */
import { Clock, Context, Duration, Effect, Exit, Option, type Schema, type Tracer } from "effect"
import type { StoreError, TaskIdTaken } from "../../stores/errors.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import { IdempotencyKeyReused, InvalidTaskInput, MaxInstancesReached } from "../errors.ts"
import { TaskInfo } from "../TaskInfo.ts"
import { codecsOf } from "./codecs.ts"
import type { Core } from "./core.ts"
import type { StartFrom } from "./drive.ts"
import { orderedId } from "./ids.ts"
import type { AnyTask, Registry } from "./registry.ts"
import type { Slots } from "./slots.ts"
import { SpanName, taskAttributes, traceOf } from "./tracing.ts"

/** Where and how to record a task. */
export interface EnqueueOptions {
  readonly id?: string | undefined
  readonly session?: string | undefined
  readonly onLimit?: "wait" | "fail" | undefined
  readonly idempotencyKey?: string | undefined
  /** The parent, for a child (by default the task whose body enqueues, if any). */
  readonly parentId?: string | undefined
  /** A child's key among its parent's children: an existing child of that key is returned, whatever it runs. */
  readonly childKey?: string | undefined
  /** A child that waits in its parent's queue until a sibling ends (see `NewTask.queued`). */
  readonly queued?: boolean | undefined
  /** A child of a fan-out with a bound, whose end starts a queued sibling (see `NewTask.bounded`). */
  readonly bounded?: boolean | undefined
  /** A child its parent's next wait names, created by that join (see `NewTask.awaited`). */
  readonly awaited?: boolean | undefined
  /** A `Date`, or how long from now; a task started by a task's body has its parent's deadline at the latest. */
  readonly deadline?: Date | Duration.Input | undefined
  /** `false`: recorded `pending`, for any runtime to claim, instead of claimed by this one at its create. */
  readonly claim?: boolean | undefined
}

/** The latest time a `Date` can hold, in epoch milliseconds. */
const maxDateMillis = 8.64e15

/**
 * A deadline as whole epoch milliseconds (rounded up: stores keep integers), or `undefined` when `input` is neither a
 * valid `Date` nor a finite duration, or lands past the times a `Date` can hold.
 */
const deadlineAt = (input: Date | Duration.Input, now: number): number | undefined => {
  const duration = input instanceof Date ? undefined : Duration.fromInput(input)
  const at =
    input instanceof Date
      ? input.getTime()
      : duration !== undefined && Option.isSome(duration) && Duration.isFinite(duration.value)
        ? now + Duration.toMillis(duration.value)
        : Number.NaN
  return Number.isFinite(at) && Math.abs(at) <= maxDateMillis ? Math.ceil(at) : undefined
}

/** A task recorded: its record, whether this call holds its slot, and how its driver starts. */
export interface Enqueued {
  readonly record: TaskRecord
  readonly slotHeld: boolean
  readonly from: StartFrom
}

export type Enqueue = (
  task: AnyTask,
  input: unknown,
  options: EnqueueOptions | undefined
) => Effect.Effect<Enqueued, InvalidTaskInput | MaxInstancesReached | IdempotencyKeyReused | TaskIdTaken | StoreError>

/** Combinators, not `Effect.gen`, as in the attempt: this runs once per task. */
export const makeEnqueue =
  (core: Core, registry: Registry, slots: Slots): Enqueue =>
  (task, input, opts) =>
    // The caller's fiber tells, at once, its parent task (if it is one) and the time.
    Effect.withFiber((fiber) => {
      registry.register(task)
      const sessionId = opts?.session
      const limited = Number.isFinite(task.maxParallel)
      const failFast = opts?.onLimit === "fail" && limited
      let slotHeld = false
      // Functions, not effects: most submits take no slot up front, and build neither.
      const releaseSlot = () => (slotHeld ? Effect.asVoid(slots.of(task, sessionId).release(1)) : Effect.void)
      const takeSlot = () =>
        Effect.flatMap(slots.of(task, sessionId).takeIfAvailable(1), (taken) => {
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
      const id = opts?.id ?? orderedId()
      const parent = Context.getOption(fiber.context, TaskInfo)
      const parentId = opts?.parentId ?? (Option.isSome(parent) ? parent.value.id : undefined)
      // the parent's deadline bounds a task its body starts
      const inherited = Option.isSome(parent) && parent.value.id === parentId ? parent.value.deadline : undefined
      const clock = fiber.getRef(Clock.Clock)
      let deadline = inherited
      if (opts?.deadline !== undefined) {
        const own = deadlineAt(opts.deadline, clock.currentTimeMillisUnsafe())
        if (own === undefined) {
          const issue = `deadline: expected a valid Date or a finite duration, got ${String(opts.deadline)}`
          return Effect.fail(new InvalidTaskInput({ taskName: task.name, issue }))
        }
        deadline = deadline === undefined ? own : Math.min(deadline, own)
      }
      // A child's tree is its parent's; a task the caller names a parent of, outside that parent's body, is taken as
      // that parent's top-level child (no read to find its root).
      const rootId =
        parentId === undefined
          ? id
          : Option.isSome(parent) && parent.value.id === parentId
            ? (parent.value.rootId ?? parentId)
            : parentId
      const spanOptions = () =>
        ({
          kind: "producer",
          attributes: taskAttributes({ id, name: task.name, sessionId, parentId, rootId })
        }) as const
      // In a span of its own, which the task's attempts are children of: its ids are the task's trace context.
      const create = (encoded: unknown) =>
        core.isTracing
          ? Effect.useSpan(SpanName.create, spanOptions(), (span) => createIn(span, encoded))
          : createIn(undefined, encoded)
      const createIn = (span: Tracer.Span | undefined, encoded: unknown) => {
        // Read once the input is encoded (which may take time): the lease runs from the create.
        const now = clock.currentTimeMillisUnsafe()
        const created = core.store.create({
          trace: span === undefined ? undefined : traceOf(span, rootId),
          id,
          name: task.name,
          input: encoded as Schema.Json,
          sessionId,
          parentId,
          deadline,
          childKey: opts?.childKey,
          queued: opts?.queued,
          bounded: opts?.bounded,
          awaited: opts?.awaited,
          idempotencyKey: opts?.idempotencyKey,
          lease:
            limited || opts?.queued === true || opts?.claim === false
              ? undefined
              : { owner: core.runtimeId, expiresAt: now + core.leaseMillis }
        })
        return failFast ? Effect.onError(created, releaseSlot) : created
      }
      const created = (record: TaskRecord): Effect.Effect<Enqueued, IdempotencyKeyReused> => {
        if (record.id === id) {
          const claimed = record.status === "running" && record.leaseOwner === core.runtimeId
          // Every task's events start with `pending`, also one created already claimed.
          const { firstClaim: _, ...published } = record
          core.publishNow(claimed ? { ...published, status: "pending" } : published)
          // Created claimed by this very create (its id, under this runtime's lease): its first claim ever.
          const initial = claimed ? { ...record, firstClaim: true } : record
          return Effect.succeed({ record, slotHeld, from: { initial, claimed } })
        }
        // An earlier submit with this idempotency key (or child key) created the task: nothing new starts. A child key
        // names one child whatever it runs: its caller checks that it is the same.
        return Effect.andThen(
          Effect.suspend(releaseSlot),
          record.name === task.name || opts?.childKey !== undefined
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
