/**
 * Compile-time checks: `npm run typecheck` fails if an expectation here stops failing.
 * Starting a child asks its services of the parent: a runtime whose plugins lack them cannot run the parent.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { Children, plugin, Runtime, task } from "../../src/index.ts"

class Model extends Context.Service<Model, { readonly answer: string }>()("test/Model") {}
const modelPlugin = plugin({ name: "model", layer: Layer.succeed(Model, Model.of({ answer: "42" })) })

const research = task({ name: "research", input: Schema.String, output: Schema.String }, (topic) =>
  Effect.map(Effect.service(Model), (model) => `${topic}: ${model.answer}`)
)
const supervise = task(
  { name: "supervise", input: Schema.Array(Schema.String), output: Schema.Array(Schema.String) },
  (topics) => Children.all(topics.map((topic) => Children.spec(research, topic, { key: topic })))
)

export const program = Effect.gen(function* () {
  const withModel = yield* Runtime.make({ plugins: [modelPlugin] })
  const notes: ReadonlyArray<string> = yield* withModel.run(supervise, ["sky"])
  const bare = yield* Runtime.make()
  // @ts-expect-error the child needs Model, which no plugin of this runtime provides
  yield* bare.run(supervise, ["sky"])
  // outputs are typed in order, for children of different tasks
  const count = task({ name: "count", input: Schema.String, output: Schema.Number }, (s) => Effect.succeed(s.length))
  const mixed = task({ name: "mixed", input: Schema.Void }, () =>
    Effect.map(
      Children.all([Children.spec(count, "abc", { key: "n" }), Children.spec(research, "x", { key: "r" })]),
      ([n, r]): [number, string] => [n, r]
    )
  )
  yield* withModel.run(mixed, undefined)
  return notes
})
