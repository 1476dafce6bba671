/**
 * Which tasks an app may start: any task made with `task(...)` whose body needs no more than the runtime's plugins
 * provide. The check is structural, so a list may mix tasks of different input and output types.
 */
import type { Effect, Schema } from "effect"
import type { ExecutionServices, Task } from "../index.ts"

/** A task that a runtime whose plugins provide `P` can run, whatever its input and output types. */
export interface HttpTask<P> {
  readonly name: string
  readonly input: Schema.Codec<unknown, Schema.Json>
  readonly output: Schema.Codec<unknown, Schema.Json>
  readonly body: (input: never) => Effect.Effect<unknown, unknown, P | ExecutionServices>
}

export type AnyHttpTask = HttpTask<unknown>

/** Back to the runtime's own type, to submit it: the caller decoded the input with the task's Schema. */
export const asTask = (task: AnyHttpTask): Task<unknown, unknown, unknown, never> =>
  task as unknown as Task<unknown, unknown, unknown, never>
