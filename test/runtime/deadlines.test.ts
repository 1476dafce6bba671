import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Ref, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  Children,
  DeadlineExceeded,
  MemoryStepStore,
  MemoryTaskStore,
  plugin,
  Runtime,
  TaskInfo,
  TaskStore,
  task
} from "../../src/index.ts"
import { Durable, waitForSignal } from "../../src/plugins/state/Durable.ts"
import { Boom, withRuntime } from "./fixtures.ts"

const slow = task({ name: "slow", input: Schema.Void, retry: Schedule.recurs(3) }, () => Effect.sleep("1 hour"))

describe("Runtime: deadlines", () => {
  it.effect("interrupts the attempt running at the deadline and fails with DeadlineExceeded, without a retry", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(slow, undefined, { deadline: "10 seconds" })
        assert.strictEqual((yield* handle.info).deadline, 10_000)
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual((yield* handle.info).status, "running")
        yield* TestClock.adjust("1 second")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "DeadlineExceeded")
        if (error._tag === "DeadlineExceeded") assert.strictEqual(error.deadline, 10_000)
        const record = yield* handle.info
        assert.deepStrictEqual([record.status, record.attempt, record.error?.tag], ["failed", 1, "DeadlineExceeded"])
        // read back from the store, by another runtime: the same typed error
        const other = yield* Runtime.make({ tasks: [slow] })
        assert.deepStrictEqual(
          yield* Effect.flip(other.handle(slow, handle.id).await),
          new DeadlineExceeded({ taskId: handle.id, taskName: "slow", deadline: 10_000 })
        )
      })
    )
  )

  it.effect("takes a Date as the deadline", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(slow, undefined, { deadline: new Date(5_000) })
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual((yield* Effect.flip(handle.await))._tag, "DeadlineExceeded")
      })
    )
  )

  it.effect("does not start a body claimed after its deadline (queued behind maxParallel meanwhile)", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const single = task({ name: "single", input: Schema.Number, maxParallel: 1 }, (n) =>
          Effect.andThen(
            Ref.update(runs, (k) => k + 1),
            n === 1 ? Effect.sleep("1 minute") : Effect.void
          )
        )
        const first = yield* runtime.submit(single, 1)
        const late = yield* runtime.submit(single, 2, { deadline: "30 seconds" })
        yield* TestClock.adjust("1 minute")
        yield* first.await
        const error = yield* Effect.flip(late.await)
        assert.strictEqual(error._tag, "DeadlineExceeded")
        assert.strictEqual(yield* Ref.get(runs), 1, "the late task's body never ran")
      })
    )
  )

  it.effect("makes no retry that could not start before the deadline: the task fails with its last error", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make(0)
        const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute") }, () =>
          Effect.andThen(
            Ref.update(attempts, (n) => n + 1),
            Effect.fail(new Boom({ reason: "again" }))
          )
        )
        const handle = yield* runtime.submit(flaky, undefined, { deadline: "90 seconds" })
        yield* TestClock.adjust("1 minute")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "Boom")
        assert.strictEqual(yield* Ref.get(attempts), 2, "the retry due at 120 s, past the deadline, was not made")
        assert.strictEqual((yield* handle.info).status, "failed")
      })
    )
  )

  it.effect("refuses a deadline that is neither a Date nor a duration with InvalidTaskInput, and stores nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        for (const deadline of [new Date(Number.NaN), "soon" as never, "Infinity" as const]) {
          const error = yield* Effect.flip(runtime.submit(slow, undefined, { deadline }))
          assert.strictEqual(error._tag, "InvalidTaskInput")
          if (error._tag === "InvalidTaskInput") assert.match(error.issue, /^deadline: /)
        }
        assert.strictEqual((yield* runtime.list({})).items.length, 0)
      })
    )
  )

  it.effect("gives a child its parent's deadline at the latest, and TaskInfo tells each body its own", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const seen = yield* Ref.make<Record<string, number | undefined>>({})
        const child = task({ name: "child", input: Schema.String, output: Schema.String }, (key) =>
          Effect.gen(function* () {
            const { deadline } = yield* TaskInfo
            yield* Ref.update(seen, (all) => ({ ...all, [key]: deadline }))
            return key
          })
        )
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const { deadline } = yield* TaskInfo
            yield* Ref.update(seen, (all) => ({ ...all, parent: deadline }))
            yield* Children.all([
              Children.spec(child, "inherits", { key: "inherits" }),
              Children.spec(child, "earlier", { key: "earlier", deadline: "10 seconds" }),
              Children.spec(child, "later", { key: "later", deadline: "1 hour" })
            ])
            const submitted = yield* runtime.submit(child, "submitted")
            yield* submitted.await
          })
        )
        yield* runtime.run(parent, undefined, { deadline: "1 minute" })
        assert.deepStrictEqual(yield* Ref.get(seen), {
          parent: 60_000,
          inherits: 60_000,
          earlier: 10_000,
          later: 60_000,
          submitted: 60_000
        })
      })
    )
  )

  it.effect("a child that misses its deadline fails its parent's wait with ChildFailed naming DeadlineExceeded", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Children.all([Children.spec(slow, undefined, { key: "slow", deadline: "5 seconds" })])
        )
        const handle = yield* runtime.submit(parent, undefined)
        yield* TestClock.adjust("5 seconds")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "ChildFailed")
        if (error._tag === "ChildFailed") assert.strictEqual(error.errorTag, "DeadlineExceeded")
        const [kid] = (yield* runtime.list({ parentId: handle.id })).items
        assert.deepStrictEqual([kid?.status, kid?.error?.tag], ["failed", "DeadlineExceeded"])
      })
    )
  )

  it.effect("a parent that misses its deadline cancels its unfinished children, queued ones included", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Children.all(
            ["a", "b", "c", "d", "e"].map((key) => Children.spec(slow, undefined, { key })),
            { concurrency: 1 }
          )
        )
        const handle = yield* runtime.submit(parent, undefined, { deadline: "10 seconds" })
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Effect.flip(handle.await))._tag, "DeadlineExceeded")
        yield* Effect.yieldNow
        const kids = (yield* runtime.list({ parentId: handle.id })).items
        assert.deepStrictEqual(
          kids.map((kid) => [kid.childKey, kid.status]),
          [
            ["a", "failed"],
            ["b", "cancelled"],
            ["c", "cancelled"],
            ["d", "cancelled"],
            ["e", "cancelled"]
          ]
        )
      })
    )
  )

  it.effect("fails a parent at its deadline while it waits for a child that cannot run", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        // one slot, held by a task without a deadline: the child waits for it past its parent's deadline
        const single = task({ name: "single", input: Schema.Void, maxParallel: 1 }, () => Effect.sleep("1 day"))
        yield* runtime.submit(single, undefined)
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Children.all([Children.spec(single, undefined, { key: "stuck", deadline: "1 day" })])
        )
        const handle = yield* runtime.submit(parent, undefined, { deadline: "10 seconds" })
        yield* Effect.yieldNow
        const waiting = yield* handle.info
        assert.deepStrictEqual(
          [waiting.status, waiting.suspendReason?._tag, waiting.runAt],
          ["suspended", "WaitingForChildren", 10_000]
        )
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual((yield* Effect.flip(handle.await))._tag, "DeadlineExceeded")
        yield* Effect.yieldNow
        const [kid] = (yield* runtime.list({ parentId: handle.id })).items
        assert.deepStrictEqual([kid?.status, kid?.deadline], ["cancelled", 10_000])
      })
    )
  )

  it.effect("rounds a deadline up to a whole millisecond, and refuses one past the times a Date holds", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(slow, undefined, { deadline: 1500.25 })
        assert.strictEqual((yield* handle.info).deadline, 1501)
        const error = yield* Effect.flip(runtime.submit(slow, undefined, { deadline: "1000000000 days" }))
        assert.strictEqual(error._tag, "InvalidTaskInput")
      })
    )
  )

  it.effect("wakes a task waiting for a signal at its deadline, and fails it then", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [plugin({ name: "durable", layer: Durable.layer })] })
      const waiting = task({ name: "waiting", input: Schema.Void }, () => waitForSignal("go", Schema.String))
      const handle = yield* runtime.submit(waiting, undefined, { deadline: "30 seconds" })
      yield* Effect.yieldNow
      const suspended = yield* handle.info
      assert.deepStrictEqual([suspended.status, suspended.runAt], ["suspended", 30_000])
      yield* TestClock.adjust("30 seconds")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "DeadlineExceeded")
      const store = yield* TaskStore
      assert.strictEqual((yield* store.list({ status: "failed" })).items.length, 1)
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(MemoryTaskStore.layer, MemoryStepStore.layer)))
  )
})
