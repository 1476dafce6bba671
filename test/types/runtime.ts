/**
 * Compile-time checks: `npm run typecheck` fails if an expectation here stops failing.
 * The runtime has one way to follow events (`subscribe`), and no internal entry points.
 */
import { Effect, Stream } from "effect"
import { Runtime } from "../../src/index.ts"

export const program = Effect.gen(function* () {
  const runtime = yield* Runtime.make()
  const all = runtime.subscribe()
  const one = runtime.subscribe({ taskId: "t", after: 0 })
  // @ts-expect-error `events` was a second name for `subscribe()`
  const events = runtime.events
  // @ts-expect-error `wake` is internal: `resume` and `signal` wake what they must
  const wake = runtime.wake
  return [Stream.take(all, 1), Stream.take(one, 1), events, wake]
})
