/**
 * How a command fails. `UsageError` is bad input the parser could not catch (a payload that is not JSON, a store
 * named twice): exit code 2, as for an unknown command. `CommandFailed` is a request that could not be carried out
 * (no such data folder, a task that ended unsuccessfully while followed): exit code 1, as for any error of the store
 * or the runtime.
 */
import { Predicate, Schema } from "effect"

/** Input the command refuses; nothing was done. Exit code 2. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** The command could not do what it was asked. Exit code 1. */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** The exit code of a failure of `waypoint`: 2 for bad input, 1 for anything else. */
export const exitCodeOf = (error: unknown): number =>
  Predicate.isTagged(error, "UsageError") || Predicate.isTagged(error, "InvalidTaskInput") ? 2 : 1

/** One line saying what went wrong, from a typed error (a `StoreError` names its operation and its cause). */
export const describe = (error: unknown): string => {
  if (Predicate.isTagged(error, "StoreError") && Predicate.hasProperty(error, "cause")) {
    const operation = Predicate.hasProperty(error, "operation") ? String(error.operation) : "operation"
    return `the store's ${operation} failed: ${describe(error.cause)}`
  }
  if (error instanceof Error) return firstLine(error.message === "" ? error.name : error.message)
  if (Predicate.hasProperty(error, "_tag")) return String(error._tag)
  return firstLine(String(error))
}

const firstLine = (text: string) => text.split("\n")[0] ?? text
