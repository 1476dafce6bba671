/**
 * Compile-time checks: `npm run typecheck` fails if an expectation here stops failing.
 * A task may only require services that the runtime's plugins provide (plus TaskInfo).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { plugin, Runtime, TaskInfo, task } from "../../src/index.ts"

class Clock2 extends Context.Service<Clock2, { readonly now: number }>()("test/Clock2") {}
class Mailer extends Context.Service<Mailer, { readonly send: (to: string) => Effect.Effect<void> }>()("test/Mailer") {}

const clockPlugin = plugin({ name: "clock2", layer: Layer.succeed(Clock2, Clock2.of({ now: 0 })) })

const usesClock = task({ name: "uses-clock", input: Schema.Void }, () =>
  Effect.map(Effect.service(Clock2), (c) => c.now)
)
const usesInfo = task({ name: "uses-info", input: Schema.Void }, () =>
  Effect.map(Effect.service(TaskInfo), (i) => i.id)
)
const usesMailer = task({ name: "uses-mailer", input: Schema.Void }, () =>
  Effect.flatMap(Effect.service(Mailer), (m) => m.send("a@b.c"))
)

export const program = Effect.gen(function* () {
  const bare = yield* Runtime.make()
  yield* bare.run(usesInfo, undefined)
  // @ts-expect-error no plugin of this runtime provides Clock2
  yield* bare.run(usesClock, undefined)

  const withClock = yield* Runtime.make({ plugins: [clockPlugin] })
  yield* withClock.run(usesClock, undefined)
  yield* withClock.submit(usesInfo, undefined)
  // @ts-expect-error no plugin of this runtime provides Mailer
  yield* withClock.submit(usesMailer, undefined)
  // @ts-expect-error the input does not match the task's input Schema
  yield* withClock.run(usesClock, 42)
})
