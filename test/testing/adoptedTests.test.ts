/**
 * Two of the project's own tests written with the test kit, to show what it saves: `Durable.test.ts` "suspends while
 * waiting, shows why, and resumes when the signal arrives" and "ends the wait with SignalTimeout, and a later signal
 * cannot change that". The originals wait for a suspension with `Effect.yieldNow` and build their runtime and stores
 * by hand; here `runUntilSuspended` waits for what the store says, and `WaypointTest.layer` brings the stores.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Durable, plugin, task, waitForSignal } from "../../src/index.ts"
import { WaypointTest } from "../../src/testing.ts"

const durablePlugin = plugin({ name: "durable", layer: Durable.layer })
const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

describe("Durable, with the test kit", () => {
  it.effect("suspends while waiting, shows why, and resumes when the signal arrives", () =>
    Effect.gen(function* () {
      const test = yield* WaypointTest.make({ plugins: [durablePlugin] })
      const approve = task({ name: "approve-wait", input: Schema.Void }, () => waitForSignal("approval", Approval))
      const handle = yield* test.submit(approve, undefined)
      const info = yield* test.runUntilSuspended(handle)
      assert.strictEqual(info.status, "suspended")
      assert.deepStrictEqual(info.suspendReason, { _tag: "WaitingForSignal", signal: "approval" })
      yield* test.signal(handle, "approval", { approved: true, by: "grace" })
      assert.deepStrictEqual(yield* handle.await, { approved: true, by: "grace" })
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("ends the wait with SignalTimeout, and a later signal cannot change that", () =>
    Effect.gen(function* () {
      const test = yield* WaypointTest.make({ plugins: [durablePlugin] })
      const approve = task({ name: "approve-timeout", input: Schema.Void }, () =>
        waitForSignal("approval", Approval, { timeout: "1 hour" })
      )
      const handle = yield* test.submit(approve, undefined)
      assert.deepStrictEqual((yield* test.runUntilSuspended(handle)).suspendReason, {
        _tag: "WaitingForSignal",
        signal: "approval",
        until: 3_600_000
      })
      yield* test.advance("1 hour")
      const ended = yield* test.runUntilSettled(handle)
      assert.deepStrictEqual([ended.status, ended.error?.tag], ["failed", "SignalTimeout"])
      const late = yield* Effect.flip(test.signal(handle, "approval", { approved: true, by: "late" }))
      assert.strictEqual(late._tag, "SignalRejected")
    }).pipe(Effect.provide(WaypointTest.layer))
  )
})
