/**
 * Child tasks that survive any crash: a body starts children under keys of its own (starting one again finds the same
 * child), and waits for them without a fiber or a slot: the task ends its run waiting, and the write that ends its
 * wait (in the same store transaction as the last child's end) makes it runnable again, in any process.
 *
 * @example
 * ```ts
 * const supervise = task({ name: "supervise", input: Schema.Array(Schema.String) }, (topics) =>
 *   Effect.gen(function* () {
 *     const notes = yield* Children.all(
 *       topics.map((topic) => Children.spec(research, topic, { key: `research/${topic}` })),
 *       { concurrency: 8 }
 *     )
 *     return notes.join("\n")
 *   })
 * )
 * ```
 */
import { Context, type Duration, Effect } from "effect"
import type { StoreError, TaskIdTaken } from "../stores/errors.ts"
import type { ChildCancelled, ChildConflict, ChildFailed, InvalidTaskInput, InvalidTaskOutput } from "./errors.ts"
import type { Task } from "./Task.ts"

const ChildTypeId: unique symbol = Symbol.for("effect-waypoint/Child")

/** What a child carries in its types only: its output, its body's error and the services its body needs. */
interface Variance<O, E, R> {
  readonly _O: () => O
  readonly _E: () => E
  readonly _R: () => R
}

/** How to start a child. */
export interface ChildOptions {
  /** Its key among its parent's children: starting the same key again finds this child. */
  readonly key: string
  /**
   * When it must have ended: a `Date`, or how long from its start. A child always has its parent's deadline at the
   * latest, with or without one of its own.
   */
  readonly deadline?: Date | Duration.Input | undefined
}

/** A child to start: a task, its input, its key among its parent's children. Made by `Children.spec`. */
export interface ChildSpec<out O, out E, out R> {
  readonly [ChildTypeId]: Variance<O, E, R>
  readonly _tag: "ChildSpec"
  readonly task: Task<unknown, unknown, unknown, unknown>
  readonly input: unknown
  readonly key: string
  readonly deadline?: Date | Duration.Input | undefined
}

/** A started child: its id and key. A `ChildHandle` works in any run of the parent's body (the id is the child's). */
export interface ChildHandle<out O, out E> {
  readonly [ChildTypeId]: Variance<O, E, never>
  readonly _tag: "ChildHandle"
  readonly id: string
  readonly key: string
  readonly task: Task<unknown, unknown, unknown, unknown>
}

/** A child to wait for: one to start, or one started. */
export type Child<O, E, R> = ChildSpec<O, E, R> | ChildHandle<O, E>

/** Any child, whatever its types. */
export type AnyChild = Child<unknown, unknown, unknown>

/** The output of a child. */
export type OutputOf<C> = C extends Child<infer O, infer _E, infer _R> ? O : never

/** The services a child's body needs: starting it asks them of the parent, so a runtime without them cannot run it. */
export type RequirementsOf<C> = C extends ChildSpec<infer _O, infer _E, infer R> ? R : never

/** How a child ended, as `settled` reports it. */
export type ChildOutcome<O> =
  | { readonly _tag: "Completed"; readonly childId: string; readonly key: string; readonly value: O }
  | { readonly _tag: "Failed"; readonly childId: string; readonly key: string; readonly error: ChildFailed }
  | { readonly _tag: "Cancelled"; readonly childId: string; readonly key: string; readonly error: ChildCancelled }

/** Options of a fan-out. */
export interface FanOutOptions {
  /**
   * At most this many of these children run at once, across processes: the rest are queued in the store, and each
   * child that ends starts the oldest queued one. Default: no bound.
   */
  readonly concurrency?: number | "unbounded" | undefined
}

/** Options of `all`. */
export interface AllOptions extends FanOutOptions {
  /** When a child fails or is cancelled: cancel the others (default) or leave them running. */
  readonly onFailure?: "cancel" | "leave" | undefined
}

/** What starting a child may fail with. */
export type StartError = ChildConflict | InvalidTaskInput | TaskIdTaken | StoreError

/** What waiting for children may fail with: a child's end, an output that no longer decodes, the store. */
export type WaitError = ChildFailed | ChildCancelled | InvalidTaskOutput | StoreError

export class Children extends Context.Service<
  Children,
  {
    /**
     * Starts a child under `key` (unique among this task's children), in the parent's session, and returns a handle
     * on it. Started again (the body ran again), it finds the same child; the same key with another task or input
     * fails with `ChildConflict`.
     */
    readonly start: <I, O, E, R>(
      task: Task<I, O, E, R>,
      input: I,
      options: ChildOptions
    ) => Effect.Effect<ChildHandle<O, E>, StartError, R>
    /** Waits for one child: its output, or `ChildFailed` / `ChildCancelled`. */
    readonly await: <O, E>(child: ChildHandle<O, E>) => Effect.Effect<O, WaitError>
    /**
     * Starts these children (the specs) and waits for every one: their outputs, in order. The first that fails or
     * is cancelled ends the wait with `ChildFailed` / `ChildCancelled` (the others cancelled, unless `onFailure:
     * "leave"`).
     */
    readonly all: <const C extends ReadonlyArray<AnyChild>>(
      children: C,
      options?: AllOptions
    ) => Effect.Effect<{ -readonly [K in keyof C]: OutputOf<C[K]> }, StartError | WaitError, RequirementsOf<C[number]>>
    /** Starts these children and waits for every one to end, however: each one's outcome, in order. */
    readonly settled: <const C extends ReadonlyArray<AnyChild>>(
      children: C,
      options?: FanOutOptions
    ) => Effect.Effect<
      { -readonly [K in keyof C]: ChildOutcome<OutputOf<C[K]>> },
      StartError | InvalidTaskOutput | StoreError,
      RequirementsOf<C[number]>
    >
    /**
     * Starts these children and waits for the first to complete: its output, and the others are cancelled. When none
     * completes, the first of them in order fails the wait with its `ChildFailed` / `ChildCancelled`.
     */
    readonly first: <const C extends ReadonlyArray<AnyChild>>(
      children: C,
      options?: FanOutOptions
    ) => Effect.Effect<OutputOf<C[number]>, StartError | WaitError, RequirementsOf<C[number]>>
  }
>()("waypoint/runtime/Children") {
  /** A child to start with `all`, `settled` or `first`. */
  static spec<I, O, E, R>(task: Task<I, O, E, R>, input: I, options: ChildOptions): ChildSpec<O, E, R> {
    return {
      _tag: "ChildSpec",
      task: task as unknown as Task<unknown, unknown, unknown, unknown>,
      input,
      key: options.key,
      deadline: options.deadline
    } as ChildSpec<O, E, R>
  }

  /** See `Children.start`. */
  static start<I, O, E, R>(
    task: Task<I, O, E, R>,
    input: I,
    options: ChildOptions
  ): Effect.Effect<ChildHandle<O, E>, StartError, R | Children> {
    return Effect.flatMap(Effect.service(Children), (children) => children.start(task, input, options))
  }

  /** See `Children.await`. */
  static await<O, E>(child: ChildHandle<O, E>): Effect.Effect<O, WaitError, Children> {
    return Effect.flatMap(Effect.service(Children), (children) => children.await(child))
  }

  /** See `Children.all`. */
  static all<const C extends ReadonlyArray<AnyChild>>(
    children: C,
    options?: AllOptions
  ): Effect.Effect<
    { -readonly [K in keyof C]: OutputOf<C[K]> },
    StartError | WaitError,
    RequirementsOf<C[number]> | Children
  > {
    return Effect.flatMap(Effect.service(Children), (service) => service.all(children, options))
  }

  /** See `Children.settled`. */
  static settled<const C extends ReadonlyArray<AnyChild>>(
    children: C,
    options?: FanOutOptions
  ): Effect.Effect<
    { -readonly [K in keyof C]: ChildOutcome<OutputOf<C[K]>> },
    StartError | InvalidTaskOutput | StoreError,
    RequirementsOf<C[number]> | Children
  > {
    return Effect.flatMap(Effect.service(Children), (service) => service.settled(children, options))
  }

  /** See `Children.first`. */
  static first<const C extends ReadonlyArray<AnyChild>>(
    children: C,
    options?: FanOutOptions
  ): Effect.Effect<OutputOf<C[number]>, StartError | WaitError, RequirementsOf<C[number]> | Children> {
    return Effect.flatMap(Effect.service(Children), (service) => service.first(children, options))
  }
}
