import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Ref, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  MemoryStore,
  MemoryTaskStore,
  plugin,
  Runtime,
  type StatusChanged,
  TaskFailed,
  TaskInfo,
  task
} from "../../src/index.ts"
import { Boom, greet, withRuntime } from "./fixtures.ts"

class Greeting extends Context.Service<Greeting, { readonly prefix: string }>()("test/Greeting") {}

describe("Runtime: running tasks", () => {
  it.effect("runs a task directly and records it completed", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const output = yield* runtime.run(greet, { name: "Ada" })
        assert.strictEqual(output, "hello Ada")
        const page = yield* runtime.list({})
        assert.strictEqual(page.items.length, 1)
        const record = page.items[0]!
        assert.deepStrictEqual([record.status, record.attempt, record.output], ["completed", 1, "hello Ada"])
        assert.deepStrictEqual(record.input, { name: "Ada" })
      })
    )
  )

  it.effect("submits a task and awaits it through its handle", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const handle = yield* runtime.submit(greet, { name: "Lin" })
        assert.strictEqual(yield* handle.await, "hello Lin")
        assert.strictEqual(yield* handle.status, "completed")
        assert.strictEqual((yield* handle.info).output, "hello Lin")
      })
    )
  )

  it.effect("goes through pending, running and completed, and the handle's events show it", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const gated = task({ name: "gated", input: Schema.Void }, () => Deferred.await(gate))
        const all = yield* Stream.runCollect(Stream.take(runtime.subscribe(), 3)).pipe(Effect.forkChild)
        yield* Effect.yieldNow
        const handle = yield* runtime.submit(gated, undefined)
        const events = yield* Stream.runCollect(handle.events).pipe(Effect.forkChild)
        yield* Effect.yieldNow
        assert.strictEqual(yield* handle.status, "running")
        yield* Deferred.succeed(gate, undefined)
        yield* handle.await
        const statuses = (yield* Fiber.join(events)).map((e) => (e._tag === "StatusChanged" ? e.status : e._tag))
        assert.deepStrictEqual(statuses, ["running", "completed"])
        const runtimeWide = (yield* Fiber.join(all)) as ReadonlyArray<StatusChanged>
        assert.deepStrictEqual(
          runtimeWide.map((e) => e.status),
          ["pending", "running", "completed"]
        )
        assert.isTrue(runtimeWide[0]!.seq < runtimeWide[1]!.seq && runtimeWide[1]!.seq < runtimeWide[2]!.seq)
      })
    )
  )

  it.effect("replays kept events after a sequence number, for one task or all", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const first = yield* runtime.submit(greet, { name: "one" })
        yield* first.await
        const second = yield* runtime.submit(greet, { name: "two" })
        yield* second.await
        const all = yield* Stream.runCollect(Stream.take(runtime.subscribe({ after: 0 }), 6))
        assert.deepStrictEqual(
          all.map((e) => e.seq),
          [1, 2, 3, 4, 5, 6]
        )
        const resumed = yield* Stream.runCollect(Stream.take(runtime.subscribe({ after: 4, taskId: second.id }), 2))
        assert.deepStrictEqual(
          resumed.map((e) => [e.seq, e.taskId]),
          [
            [5, second.id],
            [6, second.id]
          ]
        )
      })
    )
  )

  it.effect("keeps a body's typed failure and records it failed", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const failing = task({ name: "failing", input: Schema.Number }, (n) =>
          Effect.fail(new Boom({ reason: `bad ${n}` }))
        )
        const direct = yield* Effect.flip(runtime.run(failing, 1))
        assert.strictEqual(direct._tag, "Boom")
        const handle = yield* runtime.submit(failing, 2)
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "Boom")
        if (error._tag === "Boom") assert.strictEqual(error.reason, "bad 2")
        const record = yield* handle.info
        assert.strictEqual(record.status, "failed")
        assert.deepStrictEqual(record.error, { tag: "Boom", message: "" })
      })
    )
  )

  it("says the stored error in TaskFailed's message, and its tag alone when that error had no message", () => {
    const message = (reason: string) => new TaskFailed({ taskId: "t1", errorTag: "Boom", reason }).message
    assert.strictEqual(message("it broke"), "task t1 failed with Boom: it broke")
    assert.strictEqual(message(""), "task t1 failed with Boom")
  })

  it.effect("records a defect as failed with TaskFailed", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const dying = task({ name: "dying", input: Schema.Void }, () => Effect.die(new Error("kaput")))
        const error = yield* Effect.flip(runtime.run(dying, undefined))
        assert.strictEqual(error._tag, "TaskFailed")
        const record = (yield* runtime.list({ name: "dying" })).items[0]!
        assert.deepStrictEqual([record.status, record.error?.tag, record.error?.message], ["failed", "Defect", "kaput"])
      })
    )
  )

  it.effect("records a body that throws instead of returning an Effect as failed, submitted or run", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const throwing = task({ name: "throwing", input: Schema.Void }, (): Effect.Effect<void> => {
          throw new Error("thrown")
        })
        const submitted = yield* runtime.submit(throwing, undefined)
        assert.strictEqual((yield* Effect.flip(submitted.await))._tag, "TaskFailed")
        assert.strictEqual((yield* Effect.flip(runtime.run(throwing, undefined)))._tag, "TaskFailed")
        const records = (yield* runtime.list({ name: "throwing" })).items
        assert.deepStrictEqual(
          records.map((record) => [record.status, record.error?.tag, record.error?.message]),
          [
            ["failed", "Defect", "thrown"],
            ["failed", "Defect", "thrown"]
          ]
        )
      })
    )
  )

  it.effect("rejects bad input with InvalidTaskInput before the body starts, storing nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Ref.make(false)
        const strict = task({ name: "strict", input: Schema.Struct({ count: Schema.Int }) }, () =>
          Ref.set(started, true)
        )
        const error = yield* Effect.flip(runtime.submit(strict, { count: 1.5 }))
        assert.strictEqual(error._tag, "InvalidTaskInput")
        if (error._tag === "InvalidTaskInput") {
          assert.strictEqual(error.taskName, "strict")
          assert.include(error.message, "count")
        }
        const wrongType = yield* Effect.flip(runtime.run(strict, { count: "three" } as unknown as { count: number }))
        assert.strictEqual(wrongType._tag, "InvalidTaskInput")
        assert.isFalse(yield* Ref.get(started))
        assert.strictEqual((yield* runtime.list({})).items.length, 0)
      })
    )
  )

  it.effect("fails a task whose output does not match its output Schema", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const liar = task({ name: "liar", input: Schema.Void, output: Schema.Struct({ ok: Schema.Boolean }) }, () =>
          Effect.succeed({ ok: "yes" } as unknown as { ok: boolean })
        )
        const error = yield* Effect.flip(runtime.run(liar, undefined))
        assert.strictEqual(error._tag, "InvalidTaskOutput")
        assert.strictEqual((yield* runtime.list({})).items[0]!.status, "failed")
      })
    )
  )

  it.effect("fails a task without an output Schema whose output is not JSON, naming where the bad value is", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        class Point {
          x = 1
        }
        // a class without methods passes the compiler's JSON check; the runtime names it
        const classy = task({ name: "classy", input: Schema.Void }, () => Effect.succeed({ at: [new Point()] }))
        const error = yield* Effect.flip(runtime.run(classy, undefined))
        assert.strictEqual(error._tag, "InvalidTaskOutput")
        if (error._tag === "InvalidTaskOutput") {
          assert.include(error.issue, "$.at[0] is an instance of Point")
          assert.include(error.issue, "output Schema")
        }
        const [record] = (yield* runtime.list({})).items
        assert.deepStrictEqual([record?.status, record?.error?.tag], ["failed", "InvalidTaskOutput"])
      })
    )
  )

  it.effect(
    "refuses text no store can keep: in an input, an output or a signal; and keeps an error message anyway",
    () =>
      Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const echo = task({ name: "echo", input: Schema.String, output: Schema.String }, (text) => Effect.succeed(text))
        const input = yield* Effect.flip(runtime.submit(echo, "a\u0000b"))
        assert.strictEqual(input._tag, "InvalidTaskInput")
        assert.include(input.message, "U+0000")
        assert.strictEqual((yield* runtime.list({})).items.length, 0)

        const nul = task({ name: "nul", input: Schema.Void, output: Schema.String }, () => Effect.succeed("\ud800"))
        const output = yield* Effect.flip(runtime.run(nul, undefined))
        assert.strictEqual(output._tag, "InvalidTaskOutput")
        const failed = (yield* runtime.list({ name: "nul" })).items[0]
        assert.deepStrictEqual([failed?.status, failed?.error?.tag], ["failed", "InvalidTaskOutput"])
        assert.include(failed?.error?.message, "lone UTF-16 surrogate")

        const odd = task({ name: "odd", input: Schema.Void }, () => Effect.fail(new Error("bad\u0000byte")))
        yield* Effect.flip(runtime.run(odd, undefined))
        const stored = (yield* runtime.list({ name: "odd" })).items[0]?.error
        assert.deepStrictEqual(stored, { tag: "Error", message: "bad\uFFFDbyte" })

        const waiting = yield* runtime.submit(
          task({ name: "waiting", input: Schema.Void }, () => Effect.never),
          undefined
        )
        const signal = yield* Effect.flip(runtime.signal(waiting.id, "go", { text: "\u0000" }))
        assert.deepStrictEqual(
          [signal._tag, signal._tag === "SignalRejected" ? signal.cause : ""],
          ["SignalRejected", "InvalidPayload"]
        )
      }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("a handle by id reads a task's result from the store", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const submitted = yield* runtime.submit(greet, { name: "x" })
        yield* submitted.await
        assert.strictEqual(yield* runtime.handle(greet, submitted.id).await, "hello x")
        const missing = yield* Effect.flip(runtime.handle(greet, "nope").await)
        assert.strictEqual(missing._tag, "TaskNotFound")
      })
    )
  )

  it.effect("gives up waiting with ResultTimeout while the task goes on", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const slow = task({ name: "slow-result", input: Schema.Void }, () =>
          Effect.sleep("1 minute").pipe(Effect.as("done"))
        )
        const handle = yield* runtime.submit(slow, undefined)
        const waiting = yield* Effect.forkChild(Effect.flip(handle.result("10 seconds")))
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(waiting)
        assert.strictEqual(error._tag, "ResultTimeout")
        assert.strictEqual(yield* handle.status, "running")
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* handle.result("1 second"), "done")
      })
    )
  )

  it.effect("gives plugins' services to each execution and runs their hooks", () =>
    Effect.gen(function* () {
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const greeting = plugin({
        name: "greeting",
        layer: Layer.effect(
          Greeting,
          Effect.map(Effect.service(TaskInfo), (info) => Greeting.of({ prefix: `[${info.name}#${info.attempt}]` }))
        ),
        hooks: {
          onStart: (info) => Ref.update(seen, (all) => [...all, `start ${info.name}#${info.attempt}`]),
          onSuccess: (info, output) => Ref.update(seen, (all) => [...all, `success ${info.name} ${String(output)}`]),
          onFinish: (info, status) => Ref.update(seen, (all) => [...all, `finish ${info.name} ${status}`])
        }
      })
      const greeter = task({ name: "greeter", input: Schema.String }, (name) =>
        Effect.map(Effect.service(Greeting), (g) => `${g.prefix} hello ${name}`)
      )
      const runtime = yield* Runtime.make({ plugins: [greeting] })
      assert.strictEqual(yield* runtime.run(greeter, "hooks"), "[greeter#1] hello hooks")
      assert.deepStrictEqual(yield* Ref.get(seen), [
        "start greeter#1",
        "success greeter [greeter#1] hello hooks",
        "finish greeter completed"
      ])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )
})
