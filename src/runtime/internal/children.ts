/**
 * The `Children` of one attempt: children are recorded under their parent and key (the store finds them again),
 * driven here as they are created or released from their queue, and waited for by reading their records; a wait that
 * is not over ends the attempt with `suspendForChildren`, which the store turns into a wait it counts.
 */
import { Deferred, Effect, type Tracer } from "effect"
import { canonicalJson } from "../../stores/SnapshotStore.ts"
import type { ChildWaitMode, TaskRecord } from "../../stores/TaskRecord.ts"
import { byCreation, endsWaitAtOnce, isQueued, isTerminal } from "../../stores/TaskRecord.ts"
import type {
  AnyChild,
  ChildHandle,
  ChildOptions,
  ChildOutcome,
  Children as ChildrenService,
  StartError
} from "../Children.ts"
import { ChildCancelled, ChildConflict, ChildFailed } from "../errors.ts"
import { suspendForChildren } from "../Suspension.ts"
import type { TaskInfo } from "../TaskInfo.ts"
import { codecsOf } from "./codecs.ts"
import type { Control } from "./control.ts"
import type { Core } from "./core.ts"
import type { Drivers } from "./drive.ts"
import type { Enqueue } from "./enqueue.ts"
import { orderedId } from "./ids.ts"
import type { Attempt } from "./LiveTask.ts"
import type { AnyTask } from "./registry.ts"
import { Attribute } from "./tracing.ts"

type Service = ChildrenService["Service"]

/** A child recorded, and what drives it here. */
interface Started {
  readonly record: TaskRecord
  readonly go: Effect.Effect<unknown>
}

/** Whether two JSON values are equal: a primitive by itself (most inputs of a fan-out), anything else canonically. */
const isSameJson = (a: unknown, b: unknown): boolean =>
  a === b ||
  (typeof a === "object" &&
    a !== null &&
    typeof b === "object" &&
    b !== null &&
    canonicalJson(a as never) === canonicalJson(b as never))

/**
 * How many of a fan-out's children are created at once. Concurrent creates go to the store together, as one
 * statement on PostgreSQL of at most 256 rows (`maxBatchSize` in `stores/postgres/internal/task/batch.ts`), which
 * waits for the previous one to return: 256 at once fills each statement, so a fan-out of 10 000 children waits for
 * about 40 statements one after another, where 64 at once made it wait for about 158.
 */
const createsAtOnce = 256

/** Neither happens to a child: it has no idempotency key, and does not fail on a limit. */
const neverToAChild = { IdempotencyKeyReused: Effect.die, MaxInstancesReached: Effect.die } as const

const handleOf = (record: TaskRecord, key: string, task: AnyTask): ChildHandle<unknown, unknown> =>
  ({ _tag: "ChildHandle", id: record.id, key, task }) as unknown as ChildHandle<unknown, unknown>

export interface ChildrenDeps {
  readonly core: Core
  readonly enqueue: Enqueue
  /** The drivers, made after the attempts that need this (a getter, to close the circle). */
  readonly drivers: () => Drivers
  readonly control: Control
}

/** Makes the `Children` service of one attempt of the task `parent`. */
export const makeChildren =
  ({ core, enqueue, drivers, control }: ChildrenDeps) =>
  (parent: TaskInfo["Service"]): Service => {
    /** Drives a child here unless it has ended or waits in its queue (its release starts it). */
    const drive = (task: AnyTask, record: TaskRecord, claimed: boolean): Effect.Effect<unknown> =>
      isTerminal(record.status) || isQueued(record)
        ? Effect.void
        : drivers().startDetached(task, record.id, { initial: record, claimed })

    /** The same child the key names, or `ChildConflict` when the key names another task or input. */
    const check = (record: TaskRecord, task: AnyTask, input: unknown, key: string) => {
      const conflict = (reason: string) =>
        Effect.fail(new ChildConflict({ parentId: parent.id, key, childId: record.id, reason }))
      if (record.name !== task.name) return conflict(`it runs "${record.name}", not "${task.name}"`)
      // a fork replaced its input: the body, run again, still names the old one
      if (record.forkedFrom?.inputReplaced === true) return Effect.void
      return Effect.flatMap(codecsOf(task).encodeInput(input), (encoded) =>
        isSameJson(encoded, record.input) ? Effect.void : conflict("its input differs")
      )
    }

    /**
     * Records the child (or finds it); `queued`: it waits for a sibling's end to start; `awaited`: created by a join,
     * which waits for it next. Returns the record and what drives it here, for the caller to run once it may (see
     * `startAll`), or run already when `driveNow`.
     */
    const createOne = (
      task: AnyTask,
      input: unknown,
      { key, deadline }: ChildOptions,
      queued: boolean,
      bounded = false,
      awaited = false,
      driveNow = false
    ): Effect.Effect<Started, StartError> => {
      const created = Effect.catchTags(
        enqueue(task, input, {
          id: orderedId(),
          session: parent.sessionId,
          parentId: parent.id,
          childKey: key,
          queued,
          bounded,
          awaited,
          deadline
        }),
        neverToAChild
      )
      return Effect.flatMap(created, ({ record, from }) => {
        // the record as this create claimed it (`firstClaim`), when it did
        const started: Started = { record, go: drive(task, from.initial ?? record, from.claimed === true) }
        // once run, what drives it is dropped: it could not run twice, and 10 000 of them are not kept to the join
        const ready = driveNow ? Effect.as(started.go, { record, go: Effect.void }) : Effect.succeed(started)
        // a child this create recorded is the one asked for; one found under the key is checked first
        return from.initial !== undefined ? ready : Effect.andThen(check(record, task, input, key), ready)
      })
    }

    // A child's create, once sent, is seen through to its driver whatever interrupts its caller: the child is in the
    // store, claimed by this runtime, and nothing else would run it before its lease expires.
    const start: Service["start"] = (task, input, options) =>
      Effect.uninterruptible(
        Effect.flatMap(createOne(task as unknown as AnyTask, input, options, false), ({ record, go }) =>
          Effect.as(go, handleOf(record, options.key, task as unknown as AnyTask))
        )
      ) as never

    /** The children of this parent, by key. */
    const existing = Effect.map(core.store.children(parent.id), (records) => {
      const byKey = new Map<string, TaskRecord>()
      for (const record of records) if (record.childKey !== undefined) byKey.set(record.childKey, record)
      return byKey
    })

    /**
     * Starts the specs among `children` that no earlier run started (at most `bound` of the new ones at once, the
     * rest queued), drives those that wait for nobody, and returns every child's record and task, in order.
     */
    const startAll = (children: ReadonlyArray<AnyChild>, concurrency: number | "unbounded" | undefined) =>
      Effect.gen(function* () {
        // Every child named here ended by a write of this runtime, which kept its record: no read of the store.
        const ended = core.endedChildren.get(parent.id)
        const isAllEnded = ended !== undefined && children.every((child) => ended.has(child.key))
        const known = isAllEnded ? ended : yield* existing
        const bound = typeof concurrency === "number" ? Math.max(1, concurrency) : Number.POSITIVE_INFINITY
        // Without a bound nothing is queued: each child is driven as soon as it is in the store, while the next ones
        // are created. With one, every child is driven once all are (see below), so the join's wait finds them all
        // unended: they are created marked for it (`NewTask.awaited`). Unbounded, most short children end before the
        // wait, and each end of a marked child costs its parent a look in the store.
        const driveAtOnce = !Number.isFinite(bound)
        const goIfUnbounded = (child: Started) => (driveAtOnce ? Effect.as(child.go, child) : Effect.succeed(child))
        // The children of a bounded fan-out created so far, to drive should the fan-out fail before all are created.
        const made: Array<Started> = []
        let started = 0
        const created = yield* Effect.forEach(
          children,
          (child): Effect.Effect<Started, StartError> => {
            const task = child.task as AnyTask
            if (child._tag === "ChildHandle") {
              const found = known.get(child.key)
              return Effect.map(
                found !== undefined
                  ? Effect.succeed(found)
                  : Effect.catchTag(core.readRecord(child.id), "TaskNotFound", Effect.die),
                (record) => ({ record, go: Effect.void })
              )
            }
            const found = known.get(child.key)
            if (found !== undefined) {
              return Effect.flatMap(
                Effect.as(check(found, task, child.input, child.key), {
                  record: found,
                  go: drive(task, found, false)
                }),
                goIfUnbounded
              )
            }
            const queued = started++ >= bound
            // Seen through once sent, as `start` is, when a sibling's failure (an input its Schema refuses) interrupts
            // the others: a child created by a statement in flight is driven, or kept in `made`.
            return Effect.uninterruptible(
              driveAtOnce
                ? createOne(task, child.input, child, queued, false, false, true)
                : Effect.map(createOne(task, child.input, child, queued, true, true), (one) => {
                    made.push(one)
                    return one
                  })
            )
          },
          // children all found here are only checked, one after another
          { concurrency: isAllEnded ? 1 : createsAtOnce }
        ).pipe(
          // A bounded fan-out that fails midway drives the children it created and has its queue cancelled at the
          // parent's end; an unbounded one drove each child as it was created.
          Effect.onError(() =>
            Effect.suspend(() => {
              if (made.some((one) => isQueued(one.record))) core.queuedParents.add(parent.id)
              return Effect.forEach(made, (one) => one.go, { discard: true })
            })
          )
        )
        const records = created.map((child) => child.record)
        if (records.some(isQueued)) {
          core.queuedParents.add(parent.id)
          // a body run again: children that ended before their queued siblings existed released none
          if (known.size > 0) yield* topUp(children, bound)
        }
        // Driven once every child is in the store: one that ended before its queued siblings existed would release
        // none of them, and they would wait for ever.
        if (!driveAtOnce) yield* Effect.forEach(created, (child) => child.go, { discard: true })
        const seen = yield* endsInFlight(endedHere(children, records))
        // Decided on the ends seen here only once they are all the children's: a child that ended elsewhere meanwhile,
        // before one seen here, would make a next run choose another `first`, or report another failure.
        return { records: seen.every((record) => isTerminal(record.status)) ? seen : records, known: seen }
      })

    /**
     * The records, each replaced by its end once written, when every child that has not ended is ending here: its
     * attempt is writing its outcome. Trivial children end while their siblings are created, and the last ones' writes
     * are still on the way when the last sibling is created: the join waits for those writes (one store round trip)
     * and decides at once, rather than write a wait that the next writes end. A child still running its body is not
     * waited for: the parent then suspends, holding nothing.
     */
    const endsInFlight = (records: ReadonlyArray<TaskRecord>): Effect.Effect<ReadonlyArray<TaskRecord>> => {
      const writing = new Map<string, Attempt>()
      for (const record of records) {
        if (isTerminal(record.status)) continue
        const attempt = core.live.get(record.id)?.attempt
        if (attempt === undefined || !attempt.isEnding) return Effect.succeed(records)
        writing.set(record.id, attempt)
      }
      if (writing.size === 0) return Effect.succeed(records)
      return Effect.map(
        Effect.forEach(
          writing.values(),
          (attempt) => {
            if (attempt.isRecorded) return Effect.void
            attempt.recorded ??= Deferred.makeUnsafe<void>()
            return Deferred.await(attempt.recorded)
          },
          { discard: true }
        ),
        () => records.map((record) => writing.get(record.id)?.left ?? record)
      )
    }

    /**
     * The records, each replaced by its end when a write of this runtime ended it meanwhile: children that all ended
     * while their siblings were created are joined at once, with no wait for the store to count.
     */
    const endedHere = (children: ReadonlyArray<AnyChild>, records: ReadonlyArray<TaskRecord>) => {
      const ended = core.endedChildren.get(parent.id)
      if (ended === undefined) return records
      return records.map((record, i) => {
        const key = children[i]?.key
        const end = key === undefined ? undefined : ended.get(key)
        return end === undefined || end.id !== record.id ? record : end
      })
    }

    /**
     * Releases queued children while fewer than `bound` others have not ended. An end from then on releases one as
     * it ends one; one that races this read makes it release one fewer (the fan-out runs one narrower), never more.
     */
    const topUp = (children: ReadonlyArray<AnyChild>, bound: number) =>
      Effect.gen(function* () {
        // oldest first, as a sibling's end releases them: a store reads a parent's children in no order
        const current = [...(yield* existing).values()].sort(byCreation)
        const active = current.filter((record) => !isTerminal(record.status) && !isQueued(record)).length
        const queued = current.filter(isQueued).slice(0, Math.max(0, bound - active))
        for (const record of queued) {
          const task = children.find((child) => child.key === record.childKey)?.task as AnyTask | undefined
          yield* core.store.wake(record.id)
          // the driver reads it: a store may keep it suspended, due now
          if (task !== undefined) yield* drivers().startDetached(task, record.id, {})
        }
      })

    const failureOf = (record: TaskRecord, key: string) =>
      record.status === "cancelled"
        ? new ChildCancelled({ childId: record.id, key })
        : new ChildFailed({
            childId: record.id,
            key,
            errorTag: record.error?.tag ?? "UnknownError",
            reason: record.error?.message ?? ""
          })

    const outputOf = (task: AnyTask, record: TaskRecord) => codecsOf(task).decodeOutput(record.output ?? null)

    /**
     * Ends this run until the children end as `mode` says: the store counts the wait over the children not known to
     * have ended, and those whose end ends it at once (then the next run decides, on the store's records).
     */
    const wait = (known: ReadonlyArray<TaskRecord>, mode: ChildWaitMode) =>
      suspendForChildren(
        known
          .filter((record) => !isTerminal(record.status) || endsWaitAtOnce[mode].includes(record.status))
          .map((record) => record.id),
        mode,
        known.length
      )

    /** The earliest to end of these records (by `finishedAt`, then order). */
    const earliest = (records: ReadonlyArray<TaskRecord>) =>
      records.reduce((a, b) => ((b.finishedAt ?? 0) < (a.finishedAt ?? 0) ? b : a))

    const cancelOthers = (records: ReadonlyArray<TaskRecord>, except: TaskRecord) =>
      Effect.forEach(
        records.filter((record) => record.id !== except.id && !isTerminal(record.status)),
        (record) => Effect.ignore(control.cancel(record.id)),
        { concurrency: 16, discard: true }
      )

    /**
     * A join in a span of its own, which ends before a wait that is not over ends the attempt: the span says what the
     * join found (`waiting`), and its status is not the suspension's.
     */
    const joining = <A, E1, E2>(
      mode: ChildWaitMode,
      children: ReadonlyArray<AnyChild>,
      join: (span: Tracer.Span) => Effect.Effect<Effect.Effect<A, E1>, E2>
    ): Effect.Effect<A, E1 | E2> =>
      Effect.flatten(
        Effect.useSpan(
          `Children.${mode}`,
          { attributes: { [Attribute.children]: children.length, [Attribute.joinMode]: mode } },
          (span) => Effect.withParentSpan(join(span), span)
        )
      )

    /** Ends this run until the children end as `mode` says, told in the join's span. */
    const waitIn = (span: Tracer.Span, records: ReadonlyArray<TaskRecord>, mode: ChildWaitMode) => {
      span.attribute(Attribute.waiting, records.filter((record) => !isTerminal(record.status)).length)
      return wait(records, mode)
    }

    const all: Service["all"] = (children, options) =>
      joining("all", children, (span) =>
        Effect.gen(function* () {
          const { records, known } = yield* startAll(children, options?.concurrency)
          const failed = records.filter((record) => isTerminal(record.status) && record.status !== "completed")
          if (failed.length > 0) {
            const first = earliest(failed)
            if (options?.onFailure !== "leave") yield* cancelOthers(records, first)
            const key = children[records.indexOf(first)]?.key ?? ""
            return Effect.fail(failureOf(first, key))
          }
          if (records.some((record) => !isTerminal(record.status))) return waitIn(span, known, "all")
          return Effect.succeed(
            yield* Effect.forEach(records, (record, i) => outputOf(children[i]?.task as AnyTask, record))
          )
        })
      ) as never

    const settled: Service["settled"] = (children, options) =>
      joining("settled", children, (span) =>
        Effect.gen(function* () {
          const { records, known } = yield* startAll(children, options?.concurrency)
          if (records.some((record) => !isTerminal(record.status))) return waitIn(span, known, "settled")
          return Effect.succeed(
            yield* Effect.forEach(records, (record, i): Effect.Effect<ChildOutcome<unknown>, unknown> => {
              const key = children[i]?.key ?? ""
              if (record.status === "completed") {
                return Effect.map(outputOf(children[i]?.task as AnyTask, record), (value) => ({
                  _tag: "Completed" as const,
                  childId: record.id,
                  key,
                  value
                }))
              }
              const error = failureOf(record, key)
              return Effect.succeed(
                error._tag === "ChildCancelled"
                  ? { _tag: "Cancelled" as const, childId: record.id, key, error }
                  : { _tag: "Failed" as const, childId: record.id, key, error }
              )
            })
          )
        })
      ) as never

    const first: Service["first"] = (children, options) =>
      joining("first", children, (span) =>
        Effect.gen(function* () {
          const { records, known } = yield* startAll(children, options?.concurrency)
          const completed = records.filter((record) => record.status === "completed")
          if (completed.length > 0) {
            const winner = earliest(completed)
            yield* cancelOthers(records, winner)
            return Effect.succeed(yield* outputOf(children[records.indexOf(winner)]?.task as AnyTask, winner))
          }
          if (records.some((record) => !isTerminal(record.status))) return waitIn(span, known, "first")
          const loser = records[0] as TaskRecord
          return Effect.fail(failureOf(loser, children[0]?.key ?? ""))
        })
      ) as never

    const await_: Service["await"] = (child) => Effect.map(all([child]), (outputs) => outputs[0]) as never

    return { start, await: await_, all, settled, first }
  }
