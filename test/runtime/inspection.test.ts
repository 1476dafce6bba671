import { assert, describe, it } from "@effect/vitest"
import { inspect } from "../../src/runtime/Inspection.ts"
import type { TaskRecord } from "../../src/stores/TaskRecord.ts"

const suspended = (fields: Partial<TaskRecord>): TaskRecord => ({
  id: "t",
  name: "job",
  input: null,
  status: "suspended",
  attempt: 1,
  fencingToken: 1,
  createdAt: 0,
  updatedAt: 0,
  ...fields
})
const free = { maxParallel: Number.POSITIVE_INFINITY, running: 0 }

describe("inspect", () => {
  it("says a task waits for its signal until it is due again, then that it waits only for a claim", () => {
    const waiting = { suspendReason: { _tag: "WaitingForSignal", signal: "go" } } as const
    assert.strictEqual(inspect(suspended(waiting), 100, free).reason, "waiting-signal")
    assert.strictEqual(inspect(suspended({ ...waiting, runAt: 500 }), 100, free).reason, "waiting-signal")
    // woken by the signal (or its timeout passed): runnable now
    const woken = inspect(suspended({ ...waiting, runAt: 100 }), 100, free)
    assert.deepStrictEqual([woken.reason, woken.signal], ["queued", "go"])
    assert.strictEqual(
      inspect(suspended({ ...waiting, runAt: 50 }), 100, { maxParallel: 1, running: 1 }).reason,
      "queued-behind-limit"
    )
  })

  it("says a paused task sleeps until its delay ends, and is queued after", () => {
    assert.strictEqual(inspect(suspended({}), 100, free).reason, "paused")
    assert.strictEqual(inspect(suspended({ runAt: 200 }), 100, free).reason, "sleeping-until")
    assert.strictEqual(inspect(suspended({ runAt: 100 }), 100, free).reason, "queued")
  })
})
