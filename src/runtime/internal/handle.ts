/**
 * Handles on tasks: a view over the store plus the runtime's events, so a handle works for a task that runs in
 * another process too. A handle with a waiter (from `submit`) gets the body's own typed error.
 */
import { Deferred, Duration, Effect, Stream } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import { isTerminal, type TaskRecord } from "../../stores/TaskRecord.ts"
import { ResultTimeout, type SignalRejected, type StoreMissing, type TaskNotFound } from "../errors.ts"
import type { TaskEvent } from "../TaskEvent.ts"
import type { TaskEvents } from "../TaskEvents.ts"
import type { TaskHandle } from "../TaskHandle.ts"
import { exitFromRecord } from "./outcome.ts"
import type { AnyTask } from "./registry.ts"

export interface HandleDependencies {
  readonly events: TaskEvents["Service"]
  readonly readRecord: (id: string) => Effect.Effect<TaskRecord, TaskNotFound | StoreError>
  /** The waiter of a task a driver of this process drives, if any. */
  readonly waiterOf: (id: string) => Deferred.Deferred<unknown, unknown> | undefined
  readonly cancel: (id: string) => Effect.Effect<void, TaskNotFound | StoreError>
  readonly signal: (
    id: string,
    name: string,
    payload: unknown
  ) => Effect.Effect<void, SignalRejected | StoreMissing | TaskNotFound | StoreError>
  readonly pollInterval: Duration.Input
}

/** Makes the function that builds handles. */
export const makeHandles = (deps: HandleDependencies) => {
  const { events, readRecord, waiterOf } = deps

  /** Reads the store until the task ends (for tasks this process does not drive). */
  const awaitStored = (task: AnyTask, id: string): Effect.Effect<unknown, unknown> =>
    Effect.gen(function* () {
      while (true) {
        const record = yield* readRecord(id)
        if (isTerminal(record.status)) return yield* exitFromRecord(task, record)
        const waiter = waiterOf(id)
        if (waiter !== undefined) return yield* Deferred.await(waiter)
        yield* Effect.sleep(deps.pollInterval)
      }
    })

  // One handle per submitted task: a class, so its effects are built when first asked for and the handle itself
  // is two fields and a prototype (an object literal with getters costs microseconds per task).
  class Handle implements TaskHandle<unknown, unknown> {
    readonly task: AnyTask
    readonly id: string
    readonly waiter: Deferred.Deferred<unknown, unknown> | undefined
    constructor(task: AnyTask, id: string, waiter: Deferred.Deferred<unknown, unknown> | undefined) {
      this.task = task
      this.id = id
      this.waiter = waiter
    }
    get name() {
      return this.task.name
    }
    get info() {
      return readRecord(this.id)
    }
    get status() {
      return Effect.map(readRecord(this.id), (record) => record.status)
    }
    get await() {
      return this.waiter === undefined ? awaitStored(this.task, this.id) : Deferred.await(this.waiter)
    }
    result(timeout: Duration.Input) {
      const id = this.id
      return Effect.timeoutOrElse(this.await, {
        duration: timeout,
        orElse: () => Effect.fail(new ResultTimeout({ taskId: id, timeoutMillis: Duration.toMillis(timeout) }))
      })
    }
    get cancel() {
      return deps.cancel(this.id)
    }
    signal(name: string, payload: unknown) {
      return deps.signal(this.id, name, payload)
    }
    get events() {
      return events$(this.id, readRecord(this.id))
    }
  }

  const handle = (
    task: AnyTask,
    id: string,
    waiter: Deferred.Deferred<unknown, unknown> | undefined
  ): TaskHandle<unknown, unknown> => new Handle(task, id, waiter)

  const events$ = (id: string, info: Effect.Effect<TaskRecord, TaskNotFound | StoreError>) =>
    Stream.unwrap(
      Effect.gen(function* () {
        const lastSeq = yield* events.lastSeq
        const current = yield* info
        const first: TaskEvent = {
          _tag: "StatusChanged",
          seq: lastSeq,
          taskId: current.id,
          taskName: current.name,
          at: current.updatedAt,
          status: current.status,
          attempt: current.attempt,
          error: current.error,
          suspendReason: current.suspendReason,
          parentId: current.parentId
        }
        if (isTerminal(current.status)) return Stream.succeed(first)
        // Events published since `lastSeq` was read come from the history, so none is missed.
        const live = events
          .subscribe({ taskId: id, after: lastSeq })
          .pipe(Stream.takeUntil((event) => event._tag === "StatusChanged" && isTerminal(event.status)))
        return Stream.concat(Stream.succeed(first), live)
      })
    )

  return handle
}
