import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { TaskStore, task } from "../../src/index.ts"
import { Boom, greet, withRuntime } from "./fixtures.ts"

describe("Runtime: limits, sessions and idempotency keys", () => {
  it.effect("waits for a slot when maxParallel instances run in the session", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>()]
        const single = task({ name: "single", input: Schema.Number, maxParallel: 1 }, (i) => Deferred.await(gates[i]!))
        const session = runtime.session("s1")
        const first = yield* session.submit(single, 0)
        const second = yield* session.submit(single, 1)
        const other = yield* runtime.session("s2").submit(single, 1)
        yield* Effect.yieldNow
        assert.strictEqual(yield* first.status, "running")
        assert.strictEqual(yield* second.status, "pending")
        assert.strictEqual(yield* other.status, "running", "another session has its own slots")
        yield* Deferred.succeed(gates[0]!, undefined)
        yield* first.await
        yield* Effect.yieldNow
        assert.strictEqual(yield* second.status, "running")
        yield* Deferred.succeed(gates[1]!, undefined)
        yield* second.await
        const page = yield* session.list({})
        assert.deepStrictEqual(
          page.items.map((t) => t.status),
          ["completed", "completed"]
        )
      })
    )
  )

  it.effect("fails fast with MaxInstancesReached when asked not to wait, storing nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const single = task({ name: "single-fast", input: Schema.Void, maxParallel: 1 }, () => Deferred.await(gate))
        const first = yield* runtime.submit(single, undefined, { session: "s", onLimit: "fail" })
        const error = yield* Effect.flip(runtime.submit(single, undefined, { session: "s", onLimit: "fail" }))
        assert.strictEqual(error._tag, "MaxInstancesReached")
        if (error._tag === "MaxInstancesReached") assert.deepStrictEqual([error.maxParallel, error.sessionId], [1, "s"])
        assert.strictEqual((yield* runtime.list({})).items.length, 1)
        yield* Deferred.succeed(gate, undefined)
        yield* first.await
        const again = yield* runtime.submit(single, undefined, { session: "s", onLimit: "fail" })
        yield* again.await
      })
    )
  )

  it.effect("cancels every unfinished task of a session, and only those", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const forever = task({ name: "forever-session", input: Schema.Number }, () => Effect.never)
        const session = runtime.session("batch")
        const mine = [yield* session.submit(forever, 1), yield* session.submit(forever, 2)]
        const done = yield* session.submit(greet, { name: "done" })
        yield* done.await
        const other = yield* runtime.session("other").submit(forever, 3)
        yield* Effect.yieldNow
        yield* session.cancelAll
        for (const handle of mine) assert.strictEqual(yield* handle.status, "cancelled")
        assert.strictEqual(yield* done.status, "completed")
        assert.strictEqual(yield* other.status, "running")
      })
    )
  )

  it.effect("says why a task is where it is: running, queued behind its limit, sleeping, paused, finished", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const single = task({ name: "single-inspect", input: Schema.Number, maxParallel: 1 }, () =>
          Deferred.await(gate)
        )
        const first = yield* runtime.submit(single, 1, { session: "s" })
        const second = yield* runtime.submit(single, 2, { session: "s" })
        yield* Effect.yieldNow
        const running = yield* runtime.inspect(first.id)
        assert.deepStrictEqual([running.reason, running.leaseOwner], ["running", runtime.id])
        assert.strictEqual((yield* runtime.inspect(second.id)).reason, "queued-behind-limit")
        yield* runtime.pause(second.id)
        assert.strictEqual((yield* runtime.inspect(second.id)).reason, "paused")
        const flaky = task({ name: "flaky-inspect", input: Schema.Void, retry: Schedule.spaced("1 hour") }, () =>
          Effect.fail(new Boom({ reason: "not yet" }))
        )
        const sleeper = yield* runtime.submit(flaky, undefined)
        yield* Effect.yieldNow
        const sleeping = yield* runtime.inspect(sleeper.id)
        assert.deepStrictEqual(
          [sleeping.reason, sleeping.runAt, sleeping.lastError?.tag],
          ["sleeping-until", 3_600_000, "Boom"]
        )
        yield* Deferred.succeed(gate, undefined)
        yield* first.await
        assert.strictEqual((yield* runtime.inspect(first.id)).reason, "finished")
        const store = yield* TaskStore
        yield* store.create({ id: "orphan", name: "single-inspect", input: 3 })
        yield* store.claim("orphan", { owner: "dead", expiresAt: 3_600_001 })
        yield* TestClock.adjust("2 hours")
        assert.strictEqual((yield* runtime.inspect("orphan")).reason, "lease-expired")
        yield* sleeper.cancel
      })
    )
  )

  it.effect("returns the same task for a repeated idempotency key", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const first = yield* runtime.submit(greet, { name: "a" }, { idempotencyKey: "k" })
        const second = yield* runtime.submit(greet, { name: "b" }, { idempotencyKey: "k" })
        assert.strictEqual(second.id, first.id)
        assert.strictEqual(yield* second.await, "hello a")
        assert.strictEqual((yield* runtime.list({})).items.length, 1)
      })
    )
  )

  it.effect("a run with the idempotency key of a task submitted here waits for that task, and sees its cancel", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const runs = yield* Ref.make(0)
        const slow = task({ name: "slow", input: Schema.Void }, () =>
          Ref.update(runs, (n) => n + 1).pipe(
            Effect.andThen(Deferred.succeed(started, undefined)),
            Effect.andThen(Effect.never)
          )
        )
        const submitted = yield* runtime.submit(slow, undefined, { idempotencyKey: "k" })
        yield* Deferred.await(started)
        const ran = yield* Effect.forkChild(Effect.flip(runtime.run(slow, undefined, { idempotencyKey: "k" })), {
          startImmediately: true
        })
        yield* submitted.cancel
        assert.strictEqual((yield* Fiber.join(ran))._tag, "TaskCancelled")
        assert.deepStrictEqual([(yield* submitted.info).status, yield* Ref.get(runs)], ["cancelled", 1])
      })
    )
  )
})
