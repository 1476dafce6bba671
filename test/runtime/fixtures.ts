/** What the Runtime's test files share: a task, a typed error, and a runtime over a memory store. */
import { Effect, Schema, type Scope } from "effect"
import { MemoryTaskStore, Runtime, type TaskStore, task } from "../../src/index.ts"

export class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

export const greet = task({ name: "greet", input: Schema.Struct({ name: Schema.String }) }, ({ name }) =>
  Effect.succeed(`hello ${name}`)
)

export const withRuntime = <A, E>(
  f: (runtime: Runtime.Runtime<never>) => Effect.Effect<A, E, TaskStore | Scope.Scope>
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make()
    return yield* f(runtime)
  }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
