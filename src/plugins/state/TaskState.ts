/**
 * Per-task key/value state. Entries live in the `StateStore`, so they outlive the worker that wrote them: every
 * write is in the store when the call returns, values are checked to be plain JSON before anything is written, and
 * an entry with a TTL reads as absent once the TTL has passed. Scopes share state between tasks.
 */
import { Clock, Context, type Duration, Effect, Layer, Option, type Schema } from "effect"
import { isTracing as isTracingIn } from "../../runtime/internal/tracing.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import type { StoreError } from "../../stores/errors.ts"
import { StateStore } from "../../stores/StateStore.ts"
import {
  NotInSession,
  type StateConflict,
  StateDecodeError,
  type StateInvalidValue,
  StateNotSerializable,
  StateTooLarge
} from "./errors.ts"
import { expiryOf, isLive } from "./internal/expiry.ts"
import { asJsonWithText, maxPrimitiveJsonBytes, primitiveJson, sizeOverLimit, whyNotJson } from "./internal/json.ts"
import { commitModifies, type ModifyRequest } from "./internal/modifyBatch.ts"
import { makeScopeLocks, namedScopeId, type ScopeLocks, sessionScopeId, taskScopeId } from "./internal/scopes.ts"
import { makeTyped } from "./internal/typed.ts"

type Json = Schema.Json

/**
 * The write locks of task state, one per scope, and the queues of its `modify` calls, one per key. Make one per
 * plugin instance and pass it to every execution's layer, so that tasks sharing a scope in this process also share
 * its lock, and their modifies of one key are written together.
 */
export type TaskStateLocks = ScopeLocks

/** Options of `TaskState.layer`, shared by every execution of one plugin. */
export interface TaskStateOptions {
  /** From `TaskState.makeLocks()`, made once per plugin instance. */
  readonly locks: TaskStateLocks
  /** The largest value accepted, in bytes of UTF-8 JSON. Default 1 MiB. */
  readonly sizeLimitBytes?: number | undefined
  /** How long a written entry lives unless its scope or the write says otherwise. Default: forever. */
  readonly ttl?: Duration.Input | undefined
}

/** Options of one write. `ttl: "Infinity"` keeps the entry forever whatever the default. */
export interface TaskStateWriteOptions {
  readonly ttl?: Duration.Input | undefined
}

/** Options of a scope: `ttl` replaces the plugin's default TTL for the writes through this view. */
export interface TaskStateScopeOptions {
  readonly ttl?: Duration.Input | undefined
}

/** What can go wrong while writing a value. */
export type TaskStateWriteError = StateNotSerializable | StateTooLarge | StoreError

/** What can go wrong in `modify`: a write error, or losing the race to other processes on every try. */
export type TaskStateModifyError = TaskStateWriteError | StateConflict

/**
 * Task state seen through one scope: the task's own (what `TaskState` gives), its session's, or a named one. `E` is
 * what reaching the scope may fail with: `NotInSession` for the session's scope of a task without a session.
 */
export interface TaskStateView<E = never> {
  readonly get: (key: string) => Effect.Effect<Option.Option<Json>, StoreError | E>
  /**
   * The value, or `fallback` when the key is absent or expired, typed from the fallback: a stored value of another
   * JSON type than the fallback's (a string where the fallback is a number) fails with `StateDecodeError`.
   */
  readonly getOr: <A extends Json>(
    key: string,
    fallback: A
  ) => Effect.Effect<JsonKind<A>, StateDecodeError | StoreError | E>
  /** Every live entry of the scope; expired ones are left out. */
  readonly getAll: () => Effect.Effect<Record<string, Json>, StoreError | E>
  readonly set: (
    key: string,
    value: unknown,
    options?: TaskStateWriteOptions
  ) => Effect.Effect<void, TaskStateWriteError | E>
  /** Writes every key in one store write (all or none) and returns every live entry of the scope after it. */
  readonly update: (
    values: Readonly<Record<string, unknown>>,
    options?: TaskStateWriteOptions
  ) => Effect.Effect<Record<string, Json>, TaskStateWriteError | E>
  readonly delete: (key: string) => Effect.Effect<void, StoreError | E>
  /** Removes every entry of the scope. */
  readonly clear: () => Effect.Effect<void, StoreError | E>
  /**
   * Atomic read-modify-write, returning the new value: concurrent calls never lose an update, in this process
   * (the scope's lock) or across processes (compare-and-set on the entry's version, retried). `f` sees an expired
   * entry as `None`, and may run more than once: keep it free of side effects. The entry keeps its expiry unless
   * `options.ttl` is given; a new entry gets the scope's TTL.
   *
   * Calls on one key that come while a write of it is in flight are written together, in one store write: each
   * `f` in the order the calls came, on the value the one before made. Each call returns once that write is done,
   * with its own value; a failed write fails every call of the batch, and an `f` that fails fails its call alone.
   */
  readonly modify: (
    key: string,
    f: (current: Option.Option<Json>) => unknown,
    options?: TaskStateWriteOptions
  ) => Effect.Effect<Json, TaskStateModifyError | E>
  /**
   * `modify` with an effectful `f`; `f` may run more than once, so it must not have side effects. It runs with the
   * caller's services, though possibly on the fiber of another caller of its batch.
   */
  readonly modifyEffect: <EF, R>(
    key: string,
    f: (current: Option.Option<Json>) => Effect.Effect<unknown, EF, R>,
    options?: TaskStateWriteOptions
  ) => Effect.Effect<Json, EF | TaskStateModifyError | E, R>
  /**
   * The state of a scope shared between tasks: `"session"` is the task's session (shared by the tasks of one
   * session, such as the steps of a dialog), any other name a scope shared by every task that names it. In a task
   * started outside a session, every operation of `scope("session")` fails with `NotInSession`.
   */
  readonly scope: <N extends string>(name: N, options?: TaskStateScopeOptions) => TaskStateView<ScopeError<N>>
}

/** What reaching the scope named `N` may fail with: only the session's scope (or a name not known statically) can. */
export type ScopeError<N extends string> = string extends N ? NotInSession : N extends "session" ? NotInSession : never

/** `ScopeError` of a scope that may be left out (`never`: the task's own scope). */
export type OptionalScopeError<N extends string> = [N] extends [never] ? never : ScopeError<N>

/** The JSON type of a fallback, widened from its literal (`0` gives `number`): what `getOr` returns. */
export type JsonKind<A extends Json> = A extends string
  ? string
  : A extends number
    ? number
    : A extends boolean
      ? boolean
      : A extends null
        ? Json
        : A extends ReadonlyArray<Json>
          ? ReadonlyArray<Json>
          : Schema.JsonObject

const kindName = (value: Json): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "object" ? "object" : typeof value

/** Whether `value` has the JSON type of `fallback` (any value does for a `null` fallback). */
const isKindOf = (fallback: Json, value: Json): boolean => {
  if (fallback === null) return true
  if (Array.isArray(fallback)) return Array.isArray(value)
  if (typeof fallback === "object") return typeof value === "object" && value !== null && !Array.isArray(value)
  return typeof value === typeof fallback
}

const defaultSizeLimitBytes = 1024 * 1024

/** Builds the state of the current task. No I/O: cheap enough to build once per execution. */
const make = (options: TaskStateOptions): Effect.Effect<TaskStateView, never, TaskInfo | StateStore> =>
  Effect.gen(function* () {
    const task = yield* TaskInfo
    const store = yield* StateStore
    const { locks, ttl: pluginTtl } = options
    const limitBytes = options.sizeLimitBytes ?? defaultSizeLimitBytes
    // Spans only with a tracer of the program's own (Effect's default one exports nothing): a span and its stack
    // trace cost more than a write to the memory store.
    const isTracing = isTracingIn(yield* Effect.context<never>())
    const traced =
      (name: string) =>
      <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        isTracing ? Effect.withSpan(effect, name) : effect
    const tracedModify = traced("TaskState.modify")
    const commit = commitModifies(store, locks.withLock)

    // A counter's number needs neither a walk for what JSON cannot hold nor a count of its bytes.
    const isPrimitiveFit = limitBytes >= maxPrimitiveJsonBytes
    const toStored = (key: string, value: unknown): Effect.Effect<Json, StateNotSerializable | StateTooLarge> => {
      const primitive = isPrimitiveFit ? primitiveJson(value) : undefined
      if (primitive !== undefined) return Effect.succeed(primitive)
      const reason = whyNotJson(value)
      if (reason !== undefined) return Effect.fail(new StateNotSerializable({ key, reason }))
      const { json, text } = asJsonWithText(value)
      const sizeBytes = sizeOverLimit(text, limitBytes)
      if (sizeBytes !== undefined) return Effect.fail(new StateTooLarge({ key, sizeBytes, limitBytes }))
      return Effect.succeed(json)
    }

    /** The id of the scope named `name`, or why it cannot be reached. */
    const scopeIdOf = (name: string): string | NotInSession => {
      if (name !== "session") return namedScopeId(name)
      if (task.sessionId === undefined) return new NotInSession({ taskId: task.id, taskName: task.name })
      return sessionScopeId(task.sessionId)
    }

    // Built with the widest error; `ScopeError` narrows it for the scopes that cannot fail to be reached.
    const view = (
      reached: string | NotInSession,
      defaultTtl: Duration.Input | undefined
    ): TaskStateView<NotInSession> => {
      const scopeId: Effect.Effect<string, NotInSession> =
        typeof reached === "string" ? Effect.succeed(reached) : Effect.fail(reached)
      const get = Effect.fnUntraced(function* (key: string) {
        const id = yield* scopeId
        const now = yield* Clock.currentTimeMillis // not Date.now(): TestClock must be able to move it
        const entry = yield* store.get(id, key)
        return entry.pipe(
          Option.filter((e) => isLive(e, now)),
          Option.map((e) => e.value)
        )
      }, traced("TaskState.get"))

      const getOr = <A extends Json>(key: string, fallback: A) =>
        Effect.flatMap(get(key), (found): Effect.Effect<JsonKind<A>, StateDecodeError> => {
          const value = Option.getOrElse(found, (): Json => fallback)
          return isKindOf(fallback, value)
            ? Effect.succeed(value as JsonKind<A>)
            : Effect.fail(
                new StateDecodeError({ key, issue: `holds ${JSON.stringify(value)}, not a ${kindName(fallback)}` })
              )
        })

      const liveEntries = Effect.fnUntraced(function* (id: string) {
        const now = yield* Clock.currentTimeMillis
        const all: Record<string, Json> = {}
        for (const [key, entry] of yield* store.getAll(id)) {
          if (isLive(entry, now)) all[key] = entry.value
        }
        return all
      })

      const getAll = Effect.fnUntraced(function* () {
        return yield* liveEntries(yield* scopeId)
      }, traced("TaskState.getAll"))

      const set = Effect.fnUntraced(function* (key: string, value: unknown, write?: TaskStateWriteOptions) {
        const json = yield* toStored(key, value) // fails before anything is written
        const id = yield* scopeId
        yield* locks.withLock(id)(
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            yield* store.put(id, new Map([[key, { value: json, expiresAt: expiryOf(now, write?.ttl ?? defaultTtl) }]]))
          })
        )
      }, traced("TaskState.set"))

      const update = Effect.fnUntraced(function* (
        values: Readonly<Record<string, unknown>>,
        write?: TaskStateWriteOptions
      ) {
        const checked: Array<readonly [string, Json]> = []
        for (const [key, value] of Object.entries(values)) checked.push([key, yield* toStored(key, value)])
        const id = yield* scopeId
        return yield* locks.withLock(id)(
          Effect.gen(function* () {
            if (checked.length > 0) {
              const expiresAt = expiryOf(yield* Clock.currentTimeMillis, write?.ttl ?? defaultTtl)
              yield* store.put(id, new Map(checked.map(([key, value]) => [key, { value, expiresAt }])))
            }
            return yield* liveEntries(id)
          })
        )
      }, traced("TaskState.update"))

      const delete_ = Effect.fnUntraced(function* (key: string) {
        const id = yield* scopeId
        yield* locks.withLock(id)(store.delete(id, key))
      }, traced("TaskState.delete"))

      const clear = Effect.fnUntraced(function* () {
        const id = yield* scopeId
        yield* locks.withLock(id)(store.clear(id))
      }, traced("TaskState.clear"))

      // Modifies of one key are written in batches (`groupCommit.ts`): the lock of its scope once per batch, one
      // compare-and-set per batch, and the version check makes a write of another process in between harmless.
      const submit = (key: string, request: ModifyRequest): Effect.Effect<unknown, unknown> =>
        typeof reached === "string" ? locks.modifies.submit(reached, key, request, commit) : Effect.fail(reached)

      // A batch settles each call with a failure of its own function, a modify error, or its own value: the casts
      // below give back the types `submit` cannot carry through a queue shared by callers of every type.
      const modifyEffect = <E, R>(
        key: string,
        f: (current: Option.Option<Json>) => Effect.Effect<unknown, E, R>,
        write?: TaskStateWriteOptions
      ): Effect.Effect<Json, E | TaskStateModifyError | NotInSession, R> =>
        tracedModify(
          Effect.flatMap(Effect.context<R>(), (context) =>
            submit(key, {
              // Run by whichever caller leads the batch: in this caller's context, not the leader's.
              apply: (current) =>
                Effect.flatMap(Effect.provideContext(f(current), context), (value) => toStored(key, value)),
              ttl: write?.ttl,
              defaultTtl
            })
          ) as Effect.Effect<Json, E | TaskStateModifyError | NotInSession, R>
        )

      const modify = (
        key: string,
        f: (current: Option.Option<Json>) => unknown,
        write?: TaskStateWriteOptions
      ): Effect.Effect<Json, TaskStateModifyError | NotInSession> =>
        tracedModify(
          submit(key, {
            // A plain function needs no context; what it throws is a defect of this call alone.
            apply: (current) => Effect.suspend(() => toStored(key, f(current))),
            ttl: write?.ttl,
            defaultTtl
          }) as Effect.Effect<Json, TaskStateModifyError | NotInSession>
        )

      // A scope's TTL replaces the plugin's default, not the TTL of the view it was reached from.
      const scope = <N extends string>(name: N, scopeOptions?: TaskStateScopeOptions) =>
        view(scopeIdOf(name), scopeOptions?.ttl ?? pluginTtl) as TaskStateView<ScopeError<N>>

      return { get, getOr, getAll, set, update, delete: delete_, clear, modify, modifyEffect, scope }
    }

    // The task's own scope is always there.
    return view(taskScopeId(task.id), pluginTtl) as TaskStateView
  })

/** The services a Struct's field Schemas need to encode and decode (usually none). */
export type TypedTaskStateServices<Fields extends Schema.Struct.Fields> =
  | Schema.Struct.DecodingServices<Fields>
  | Schema.Struct.EncodingServices<Fields>

/** Typed access to the keys of a `Schema.Struct`, from `TaskState.typed`; `E` as in `TaskStateView`. */
export interface TypedTaskState<Fields extends Schema.Struct.Fields, E = never> {
  readonly get: <K extends keyof Fields & string>(
    key: K
  ) => Effect.Effect<
    Option.Option<Fields[K]["Type"]>,
    StateDecodeError | StoreError | E,
    TypedTaskStateServices<Fields>
  >
  /** Every live key of the Struct; keys outside it are left out. */
  readonly getAll: () => Effect.Effect<
    Partial<Schema.Struct.Type<Fields>>,
    StateDecodeError | StoreError | E,
    TypedTaskStateServices<Fields>
  >
  readonly set: <K extends keyof Fields & string>(
    key: K,
    value: Fields[K]["Type"],
    options?: TaskStateWriteOptions
  ) => Effect.Effect<void, StateInvalidValue | TaskStateWriteError | E, TypedTaskStateServices<Fields>>
  /** Atomic read-modify-write, as `TaskState.modify`; `f` may run more than once. */
  readonly modify: <K extends keyof Fields & string>(
    key: K,
    f: (current: Option.Option<Fields[K]["Type"]>) => Fields[K]["Type"],
    options?: TaskStateWriteOptions
  ) => Effect.Effect<
    Fields[K]["Type"],
    StateDecodeError | StateInvalidValue | TaskStateModifyError | E,
    TypedTaskStateServices<Fields>
  >
  readonly delete: <K extends keyof Fields & string>(key: K) => Effect.Effect<void, StoreError | E>
}

/**
 * The current task's key/value state (its own scope), with `scope(...)` for state shared with other tasks.
 *
 * @example
 * const state = yield* TaskState
 * yield* state.set("draft", { title: "plan" }, { ttl: "1 hour" })
 * const runs = yield* state.modify("runs", (n) => Number(Option.getOrElse(n, () => 0)) + 1)
 * yield* state.scope("session").set("lastAnswer", "yes")
 */
export class TaskState extends Context.Service<TaskState, TaskStateView>()("waypoint/plugins/state/TaskState") {
  /** The state of the current task, built for each execution (no I/O) from its `TaskInfo`. */
  static layer(options: TaskStateOptions): Layer.Layer<TaskState, never, TaskInfo | StateStore> {
    return Layer.effect(TaskState, Effect.map(make(options), TaskState.of))
  }

  /** The write locks and modify queues of one plugin instance: make them once, pass them to every `TaskState.layer`. */
  static makeLocks(): TaskStateLocks {
    return makeScopeLocks()
  }

  /**
   * Typed access to the keys of `schema`: values are encoded with their field's Schema on write
   * (`StateInvalidValue` when they do not match) and decoded on read (`StateDecodeError` when a stored value no
   * longer matches). With `options.scope`, the keys live in that scope (as `TaskState.scope`).
   *
   * @example
   * const Dialog = Schema.Struct({ step: Schema.Number, answers: Schema.Array(Schema.String) })
   * const dialog = yield* TaskState.typed(Dialog, { scope: "session" })
   * yield* dialog.set("step", 2)
   * const step = yield* dialog.get("step") // Option<number>
   */
  static typed<Fields extends Schema.Struct.Fields, const N extends string = never>(
    schema: Schema.Struct<Fields>,
    options?: { readonly scope?: N | undefined }
  ): Effect.Effect<TypedTaskState<Fields, OptionalScopeError<N>>, never, TaskState> {
    return TaskState.useSync(
      (state) =>
        makeTyped(schema, options?.scope === undefined ? state : state.scope(options.scope)) as TypedTaskState<
          Fields,
          OptionalScopeError<N>
        >
    )
  }
}

/** Removes a task's own state (not its session's or named scopes'): the state plugin calls it when a task ends. */
export const clearTaskState = Effect.fn("TaskState.clearTaskState")(function* (taskId: string) {
  const store = yield* StateStore
  yield* store.clear(taskScopeId(taskId))
})

/** The state scope that holds a task's own keys. */
export { taskScopeId } from "./internal/scopes.ts"
