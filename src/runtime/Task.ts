/**
 * A task definition: a name, Schemas for input and output, limits, a retry Schedule, a timeout, and a body
 * that is an Effect program. The services the body asks for are checked, at compile time, against what the
 * runtime's plugins provide.
 */
import { Duration, type Effect, Option, type Schedule, Schema } from "effect"
import type { TaskInterrupted, TaskTimeout } from "./errors.ts"

/** The options of `task(...)`. */
export interface TaskOptions<I, IE, O, OE, E> {
  /** Unique within a runtime; stored with every task, so a worker in another process can find the body. */
  readonly name: string
  readonly input: Schema.Codec<I, IE>
  /** Encodes the output for the store. Without it the output must be JSON or `undefined`. */
  readonly output?: Schema.Codec<O, OE> | undefined
  /** At most this many instances run at once in one session. Default: unlimited. */
  readonly maxParallel?: number | undefined
  /** Decides, from the error of a failed attempt, whether and when the next attempt runs. */
  readonly retry?: Schedule.Schedule<unknown, NoInfer<E> | TaskTimeout | TaskInterrupted> | undefined
  /** Each attempt is interrupted after this long and fails with `TaskTimeout`. */
  readonly timeout?: Duration.Input | undefined
  /** Schemas of the signals the task waits for: a signal sent with a payload that does not match is refused. */
  readonly signals?: Readonly<Record<string, Schema.Codec<unknown, unknown>>> | undefined
  /**
   * What the model calls of each run of this task and of all its descendants may use together (enforced by the
   * `ModelCalls` plugin, against every ancestor's budget too).
   */
  readonly budget?: UsageBudget | undefined
}

/** A budget of model usage: calls, tokens (input and output) and cost in dollars; an absent one is not limited. */
export interface UsageBudget {
  readonly calls?: number | undefined
  readonly tokens?: number | undefined
  readonly cost?: number | undefined
}

export const TaskTypeId: unique symbol = Symbol.for("effect-waypoint/Task")

/** Any defined task, whatever its types: what a runtime's `tasks` list holds. */
export interface TaskDefinition {
  readonly [TaskTypeId]: typeof TaskTypeId
  readonly name: string
}

/** A defined task, ready to be run or submitted by a runtime whose plugins provide `R`. */
export interface Task<in out I, in out O, in out E, out R> extends TaskDefinition {
  readonly name: string
  /** The input Schema with a JSON encoding, as stored. */
  readonly input: Schema.Codec<I, Schema.Json>
  readonly output: Schema.Codec<O, Schema.Json>
  readonly maxParallel: number
  readonly retry: Option.Option<Schedule.Schedule<unknown, E | TaskTimeout | TaskInterrupted>>
  readonly timeout: Option.Option<Duration.Duration>
  readonly body: (input: I) => Effect.Effect<O, E, R>
  readonly signals: Readonly<Record<string, Schema.Codec<unknown, Schema.Json>>>
  readonly budget: UsageBudget | undefined
}

/**
 * The output codec of a task without an output Schema: the output must be JSON; `undefined` (a void task) is stored
 * as null. The runtime names the path of a value that is not JSON (`codecsOf`).
 */
export const DefaultOutput: Schema.Codec<unknown, Schema.Json> = Schema.toCodecJson(
  Schema.Union([Schema.Undefined, Schema.Json])
) as Schema.Codec<unknown, Schema.Json>

/** `T` when every value of it is plain JSON (or `undefined`): what a task without an output Schema may return. */
export type JsonOutput<T> = T extends Schema.Json | undefined
  ? T
  : T extends void
    ? T
    : T extends (...args: ReadonlyArray<never>) => unknown
      ? never
      : T extends ReadonlyArray<infer U>
        ? ReadonlyArray<JsonOutput<U>>
        : T extends object
          ? { readonly [K in keyof T]: JsonOutput<T[K]> }
          : never

/** What the body of a task without an output Schema must also be when its output is not JSON: a compile error. */
export interface OutputSchemaRequired {
  readonly "this task's output is not JSON (an Option, a Date, a class instance...): give it an output Schema": never
}

/**
 * Defines a task. Without an `output` Schema the body must return JSON (checked by the compiler); with one, any
 * value that Schema encodes.
 *
 * @example
 * ```ts
 * const resize = task(
 *   { name: "resize", input: Schema.Struct({ url: Schema.String }), retry: Schedule.recurs(3), timeout: "1 minute" },
 *   ({ url }) => Effect.succeed(`resized ${url}`)
 * )
 * ```
 */
export function task<I, IE, O, E = never, R = never>(
  options: TaskOptions<I, IE, O, O, E> & { readonly output?: undefined },
  // `NoInfer`: `O` is inferred from the body's Effect alone, then checked.
  body: (
    input: I
  ) => Effect.Effect<O, E, R> & ([NoInfer<O>] extends [JsonOutput<NoInfer<O>>] ? unknown : OutputSchemaRequired)
): Task<I, O, E, R>
export function task<I, IE, O, OE, E = never, R = never>(
  options: TaskOptions<I, IE, O, OE, E> & { readonly output: Schema.Codec<O, OE> },
  body: (input: I) => Effect.Effect<O, E, R>
): Task<I, O, E, R>
export function task<I, IE, O, OE, E, R>(
  options: TaskOptions<I, IE, O, OE, E>,
  body: (input: I) => Effect.Effect<O, E, R>
): Task<I, O, E, R> {
  return make(options, body)
}

const make = <I, IE, O, OE, E, R>(
  options: TaskOptions<I, IE, O, OE, E>,
  body: (input: I) => Effect.Effect<O, E, R>
): Task<I, O, E, R> => ({
  [TaskTypeId]: TaskTypeId,
  name: options.name,
  input: Schema.toCodecJson(options.input),
  output:
    options.output === undefined ? (DefaultOutput as Schema.Codec<O, Schema.Json>) : Schema.toCodecJson(options.output),
  maxParallel: options.maxParallel ?? Number.POSITIVE_INFINITY,
  retry: Option.fromUndefinedOr(options.retry),
  timeout: Option.map(Option.fromUndefinedOr(options.timeout), Duration.fromInputUnsafe),
  body,
  signals: Object.fromEntries(
    Object.entries(options.signals ?? {}).map(([name, schema]) => [name, Schema.toCodecJson(schema)])
  ),
  budget: options.budget
})
