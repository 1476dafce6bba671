/**
 * Compile-time checks: `npm run typecheck` fails if an expectation here stops failing.
 * A task without an output Schema must return JSON; with one, any value the Schema encodes.
 */
import { Effect, Option, Schema } from "effect"
import { task } from "../../src/index.ts"

interface Point {
  readonly x: number
  readonly y: number
}

export const tasks = [
  task({ name: "literal", input: Schema.String }, (s) => Effect.succeed({ s, list: [1, 2], nested: { ok: true } })),
  task({ name: "interface", input: Schema.Void }, () => Effect.succeed<Point>({ x: 1, y: 2 })),
  task({ name: "void", input: Schema.Void }, () => Effect.void),
  task({ name: "maybe", input: Schema.String }, (s) => Effect.succeed(s.length > 0 ? s : undefined)),
  task({ name: "fails", input: Schema.Void }, () => Effect.fail("no")),
  task({ name: "json", input: Schema.Void }, () => Effect.succeed(null as Schema.Json)),
  task({ name: "option-with-schema", input: Schema.Void, output: Schema.Option(Schema.Number) }, () =>
    Effect.succeed(Option.some(1))
  ),
  // @ts-expect-error an Option is not JSON: the task needs an output Schema
  task({ name: "option", input: Schema.Void }, () => Effect.succeed(Option.some(1))),
  // @ts-expect-error a Date is not JSON
  task({ name: "date", input: Schema.Void }, () => Effect.succeed({ at: new Date() })),
  // @ts-expect-error a function is not JSON
  task({ name: "function", input: Schema.Void }, () => Effect.succeed({ f: () => 1 }))
]
