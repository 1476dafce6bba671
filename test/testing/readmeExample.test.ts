import { assert, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { StatePlugin, step, task, waitForSignal } from "../../src/index.ts"
import { WaypointTest } from "../../src/testing.ts"

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

const publish = task({ name: "publish", input: Schema.String, signals: { approval: Approval } }, (draft) =>
  Effect.gen(function* () {
    const summary = yield* step("summarise", Effect.succeed(draft.slice(0, 100)))
    const { approved, by } = yield* waitForSignal("approval", Approval, { timeout: "2 days" })
    return approved ? `published by ${by}: ${summary}` : "rejected"
  })
)

it.effect("publishes once approved, after a crash right after its step", () =>
  Effect.gen(function* () {
    const test = yield* WaypointTest.make({ tasks: [publish], plugins: [StatePlugin.make()] })
    yield* test.crashAt({ step: "summarise" }) // the process dies once the step is stored
    const handle = yield* test.submit(publish, "A long draft")
    yield* test.runUntilSuspended(handle)
    yield* test.restart // a new runtime over the same stores recovers the task
    const waiting = yield* test.runUntilSuspended(handle)
    assert.deepStrictEqual(waiting.suspendReason, { _tag: "WaitingForSignal", signal: "approval", until: 172_800_000 })
    yield* test.advance("1 day") // time stands still until moved
    yield* test.signal(handle, "approval", { approved: true, by: "ada" })
    assert.strictEqual(yield* handle.await, "published by ada: A long draft")
    assert.deepStrictEqual([...(yield* test.steps(handle))], [["summarise", "A long draft"]])
  }).pipe(Effect.provide(WaypointTest.layer))
)
