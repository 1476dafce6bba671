/**
 * A task's Schema codecs, made once per task and kept: making a parser costs more than running it on a small value.
 * A codec that answers with an `Exit` (a Schema without asynchronous transformations) is taken as it is.
 */
import { Effect, Exit, Schema } from "effect"
import { unstorable, whyNotJson } from "../../stores/storable.ts"
import { InvalidTaskInput, InvalidTaskOutput } from "../errors.ts"
import { DefaultOutput } from "../Task.ts"
import type { AnyTask } from "./registry.ts"

/** A task's Schema codecs, made once per task: making a parser costs more than running it on a small value. */
export interface Codecs {
  readonly encodeInput: (input: unknown) => Effect.Effect<unknown, InvalidTaskInput>
  readonly decodeInput: (input: unknown) => Effect.Effect<unknown, InvalidTaskInput>
  readonly encodeOutput: (output: unknown) => Effect.Effect<unknown, InvalidTaskOutput>
  readonly decodeOutput: (output: unknown) => Effect.Effect<unknown, InvalidTaskOutput>
}

const codecs = new WeakMap<AnyTask, Codecs>()

/**
 * Runs a parser and names its failure. A Schema without asynchronous transformations answers with an `Exit`
 * (itself an Effect), mapped here without a trip through the fiber's run loop.
 */
const named = <E>(
  parse: (value: unknown) => Effect.Effect<unknown, Schema.SchemaError>,
  error: (issue: string) => E
) => {
  const fail = (cause: Schema.SchemaError) => error(cause.message)
  return (value: unknown): Effect.Effect<unknown, E> => {
    const parsed = parse(value)
    if (!Exit.isExit(parsed)) return Effect.mapError(parsed, fail)
    const exit = parsed as Exit.Exit<unknown, Schema.SchemaError>
    return Exit.isSuccess(exit) ? (exit as Exit.Exit<unknown, never>) : Exit.mapError(exit, fail)
  }
}

/** An encoder whose result must also be storable (see `unstorable`): one that is not fails as `error` says. */
const storing = <E>(encode: (value: unknown) => Effect.Effect<unknown, E>, error: (issue: string) => E) => {
  const check = (encoded: unknown): Exit.Exit<unknown, E> => {
    const issue = unstorable(encoded)
    return issue === undefined ? Exit.succeed(encoded) : Exit.fail(error(issue))
  }
  return (value: unknown): Effect.Effect<unknown, E> => {
    const encoded = encode(value)
    if (!Exit.isExit(encoded)) return Effect.flatMap(encoded, check)
    const exit = encoded as Exit.Exit<unknown, E>
    return Exit.isSuccess(exit) ? check(exit.value) : exit
  }
}

/**
 * The encoder of a task without an output Schema: a value that is not JSON fails naming where in it (`$.when is an
 * instance of Date`), which the Schema's own "Expected JSON value" does not.
 */
const jsonOnly = (
  encode: (value: unknown) => Effect.Effect<unknown, InvalidTaskOutput>,
  error: (issue: string) => InvalidTaskOutput
) => {
  return (value: unknown): Effect.Effect<unknown, InvalidTaskOutput> => {
    const issue = value === undefined ? undefined : whyNotJson(value)
    return issue === undefined ? encode(value) : Exit.fail(error(`${issue}; give the task an output Schema`))
  }
}

export const codecsOf = (task: AnyTask): Codecs => {
  let found = codecs.get(task)
  if (found === undefined) {
    const input = (issue: string) => new InvalidTaskInput({ taskName: task.name, issue })
    const output = (issue: string) => new InvalidTaskOutput({ taskName: task.name, issue })
    const encodeOutput = storing(named(Schema.encodeUnknownEffect(task.output), output), output)
    found = {
      encodeInput: storing(named(Schema.encodeUnknownEffect(task.input), input), input),
      decodeInput: named(Schema.decodeUnknownEffect(task.input), input),
      encodeOutput: task.output === DefaultOutput ? jsonOnly(encodeOutput, output) : encodeOutput,
      decodeOutput: named(Schema.decodeUnknownEffect(task.output), output)
    }
    codecs.set(task, found)
  }
  return found
}
