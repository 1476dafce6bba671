import { assert, describe, it } from "@effect/vitest"
import {
  Clock,
  Context,
  Deferred,
  Effect,
  Exit,
  Fiber,
  Layer,
  Option,
  Ref,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"
import { TestClock } from "effect/testing"
import {
  MemoryStore,
  MemoryTaskStore,
  plugin,
  Runtime,
  type StatusChanged,
  TaskInfo,
  TaskStore,
  task
} from "../../src/index.ts"
import { LeaseLost, StoreError } from "../../src/stores/errors.ts"

class Greeting extends Context.Service<Greeting, { readonly prefix: string }>()("test/Greeting") {}

class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

const greet = task({ name: "greet", input: Schema.Struct({ name: Schema.String }) }, ({ name }) =>
  Effect.succeed(`hello ${name}`)
)

const withRuntime = <A, E>(
  f: (runtime: Runtime.Runtime<never>) => Effect.Effect<A, E, TaskStore | Scope.Scope>
): Effect.Effect<A, E> =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make()
    return yield* f(runtime)
  }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))

describe("Runtime", () => {
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

  it.effect("cancels a running task: its fiber is interrupted, finalizers run, it ends cancelled", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<void>()
        const finalized = yield* Ref.make(false)
        const forever = task({ name: "forever", input: Schema.Void }, () =>
          Deferred.succeed(started, undefined).pipe(
            Effect.andThen(Effect.never),
            Effect.ensuring(Ref.set(finalized, true))
          )
        )
        const handle = yield* runtime.submit(forever, undefined)
        yield* Deferred.await(started)
        yield* handle.cancel
        assert.isTrue(yield* Ref.get(finalized))
        assert.strictEqual(yield* handle.status, "cancelled")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "TaskCancelled")
      })
    )
  )

  it.effect("cancels a direct run from another fiber", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const started = yield* Deferred.make<string>()
        const forever = task({ name: "forever-direct", input: Schema.Void }, () =>
          Effect.flatMap(Effect.service(TaskInfo), (info) => Deferred.succeed(started, info.id)).pipe(
            Effect.andThen(Effect.never)
          )
        )
        const fiber = yield* Effect.forkChild(runtime.run(forever, undefined))
        const id = yield* Deferred.await(started)
        yield* runtime.cancel(id)
        const exit = yield* Fiber.await(fiber)
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit))
          assert.strictEqual(Option.getOrThrow(Exit.findErrorOption(exit))._tag, "TaskCancelled")
        assert.strictEqual((yield* runtime.get(id)).status, "cancelled")
      })
    )
  )

  it.effect("lets a cancelled body see shouldStop and stop by itself within the grace period, completing", () =>
    Effect.gen(function* () {
      const stoppedCleanly = yield* Ref.make(false)
      const started = yield* Deferred.make<void>()
      const polite = task({ name: "polite", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const info = yield* TaskInfo
          yield* Deferred.succeed(started, undefined)
          while (!(yield* info.shouldStop)) yield* Effect.sleep("1 second")
          yield* Ref.set(stoppedCleanly, true)
          return "stopped"
        })
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(polite, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.isTrue(yield* Ref.get(stoppedCleanly))
      // it returned within the grace period: it completed, with what it returned
      assert.strictEqual(yield* handle.status, "completed")
      assert.strictEqual(yield* handle.await, "stopped")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("interrupts a cancelled body that ignores shouldStop once the grace period has passed", () =>
    Effect.gen(function* () {
      const finalized = yield* Ref.make(false)
      const started = yield* Deferred.make<void>()
      const stubborn = task({ name: "stubborn", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const runtime = yield* Runtime.make({ cancelGracePeriod: "10 seconds" })
      const handle = yield* runtime.submit(stubborn, undefined)
      yield* Deferred.await(started)
      const cancelling = yield* Effect.forkChild(handle.cancel)
      yield* TestClock.adjust("9 seconds")
      assert.isFalse(yield* Ref.get(finalized))
      assert.strictEqual(yield* handle.status, "running")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(cancelling)
      assert.isTrue(yield* Ref.get(finalized))
      assert.strictEqual(yield* handle.status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("pauses a running task from outside and resumes it: the body runs again from its start", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const finalized = yield* Ref.make(0)
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const pausable = task({ name: "pausable", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            if (run === 1) {
              yield* Deferred.succeed(started, undefined)
              yield* Effect.never
            }
            yield* Deferred.await(release)
            return run
          }).pipe(Effect.ensuring(Ref.update(finalized, (n) => n + 1)))
        )
        const handle = yield* runtime.submit(pausable, undefined)
        yield* Deferred.await(started)
        yield* runtime.pause(handle.id)
        assert.strictEqual(yield* Ref.get(finalized), 1)
        const paused = yield* handle.info
        assert.deepStrictEqual(
          [paused.status, paused.suspendReason, paused.attempt],
          ["suspended", { _tag: "Paused" }, 1]
        )
        yield* TestClock.adjust("1 hour")
        assert.strictEqual(yield* Ref.get(runs), 1, "a paused task stays paused")
        yield* runtime.resume(handle.id)
        yield* Deferred.succeed(release, undefined)
        assert.strictEqual(yield* handle.await, 2)
        const error = yield* Effect.flip(runtime.pause(handle.id))
        assert.strictEqual(error._tag, "InvalidTransition")
      })
    )
  )

  it.effect(
    "a pause that comes while an ended attempt is being recorded pauses the retry, or fails if the task ended",
    () =>
      Effect.gen(function* () {
        const memory = yield* MemoryTaskStore.make
        // A store slow to record an attempt's end: the window in which the body has ended but its outcome is not stored.
        const gates = new Map<
          string,
          { readonly finishing: Deferred.Deferred<void>; readonly open: Deferred.Deferred<void> }
        >()
        const gateFor = (id: string) =>
          Effect.map(Effect.all([Deferred.make<void>(), Deferred.make<void>()]), ([finishing, open]) => {
            gates.set(id, { finishing, open })
            return { finishing, open }
          })
        const slow = TaskStore.of({
          ...memory,
          finish: (id, token, transition) => {
            const gate = gates.get(id)
            const held =
              gate === undefined
                ? Effect.void
                : Effect.andThen(Deferred.succeed(gate.finishing, undefined), Deferred.await(gate.open))
            return Effect.andThen(held, memory.finish(id, token, transition))
          }
        })
        const attempts = yield* Ref.make(0)
        const flaky = task(
          { name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 2 })) },
          () =>
            Effect.flatMap(
              Ref.updateAndGet(attempts, (n) => n + 1),
              (n) => new Boom({ reason: `attempt ${n}` })
            )
        )
        const runtime = yield* Runtime.make({ tasks: [flaky, greet] }).pipe(Effect.provideService(TaskStore, slow))

        const retried = yield* gateFor("retried")
        const handle = yield* runtime.submit(flaky, undefined, { id: "retried" })
        yield* Deferred.await(retried.finishing)
        const pausing = yield* Effect.forkChild(runtime.pause(handle.id), { startImmediately: true })
        yield* Deferred.succeed(retried.open, undefined)
        yield* Fiber.join(pausing)
        const paused = Option.getOrThrow(yield* memory.get(handle.id))
        assert.deepStrictEqual(
          [paused.status, paused.suspendReason, paused.attempt],
          ["suspended", { _tag: "Paused" }, 2]
        )
        // its events in the order its record went through them
        const statuses = (yield* runtime.history({ taskId: handle.id })).map((event) => (event as StatusChanged).status)
        assert.deepStrictEqual(statuses, ["pending", "running", "pending", "suspended"])
        // the retry's time comes and goes: paused, it does not run
        yield* TestClock.adjust("2 minutes")
        assert.strictEqual(yield* Ref.get(attempts), 1)

        // The same window for a body that succeeded: the task has ended, there is nothing to pause.
        const ended = yield* gateFor("ended")
        const greeted = yield* runtime.submit(greet, { name: "Ada" }, { id: "ended" })
        yield* Deferred.await(ended.finishing)
        const refusing = yield* Effect.forkChild(Effect.flip(runtime.pause(greeted.id)), { startImmediately: true })
        yield* Deferred.succeed(ended.open, undefined)
        assert.strictEqual((yield* Fiber.join(refusing))._tag, "InvalidTransition")
        assert.strictEqual(yield* greeted.await, "hello Ada")
      }).pipe(Effect.scoped)
  )

  it.effect("pauses a task whose onStart hooks are running: its body does not start until resumed", () =>
    Effect.gen(function* () {
      const inHook = yield* Deferred.make<void>()
      const hookGate = yield* Deferred.make<void>()
      const slowStart = plugin({
        name: "slow-start",
        layer: Layer.empty,
        hooks: {
          onStart: () =>
            Deferred.isDone(hookGate).pipe(
              Effect.flatMap((open) =>
                open ? Effect.void : Effect.andThen(Deferred.succeed(inHook, undefined), Deferred.await(hookGate))
              )
            )
        }
      })
      const runs = yield* Ref.make(0)
      const counted = task({ name: "counted", input: Schema.Void }, () => Ref.updateAndGet(runs, (n) => n + 1))
      const runtime = yield* Runtime.make({ plugins: [slowStart] })
      const handle = yield* runtime.submit(counted, undefined)
      yield* Deferred.await(inHook)
      const pausing = yield* Effect.forkChild(runtime.pause(handle.id), { startImmediately: true })
      yield* Deferred.succeed(hookGate, undefined)
      yield* Fiber.join(pausing)
      const paused = yield* handle.info
      assert.deepStrictEqual(
        [paused.status, paused.suspendReason, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 0]
      )
      yield* runtime.resume(handle.id)
      assert.strictEqual(yield* handle.await, 1)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a lease lost while an attempt's onStart hooks run keeps that attempt's body from starting", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const inHook = yield* Deferred.make<void>()
      const hookGate = yield* Deferred.make<void>()
      const firstToken = yield* Ref.make<number | undefined>(undefined)
      // The first attempt's heartbeat is refused, as after another worker's claim; later ones are kept.
      const stolen = TaskStore.of({
        ...memory,
        heartbeat: (id, token, expiresAt) =>
          Effect.flatMap(Ref.get(firstToken), (first) =>
            first === token ? Effect.fail(new LeaseLost({ taskId: id, token })) : memory.heartbeat(id, token, expiresAt)
          )
      })
      const slowStart = plugin({
        name: "slow-start",
        layer: Layer.empty,
        hooks: {
          onStart: (info) =>
            Deferred.isDone(hookGate).pipe(
              Effect.flatMap((open) =>
                open
                  ? Effect.void
                  : Ref.set(firstToken, info.fencingToken).pipe(
                      Effect.andThen(Deferred.succeed(inHook, undefined)),
                      Effect.andThen(Deferred.await(hookGate))
                    )
              )
            )
        }
      })
      const tokens = yield* Ref.make<ReadonlyArray<number>>([])
      const counted = task({ name: "counted", input: Schema.Void }, () =>
        Effect.flatMap(TaskInfo, (info) => Ref.update(tokens, (all) => [...all, info.fencingToken]))
      )
      const runtime = yield* Runtime.make({ plugins: [slowStart], leaseDuration: "30 seconds" }).pipe(
        Effect.provideService(TaskStore, stolen)
      )
      const handle = yield* runtime.submit(counted, undefined)
      yield* Deferred.await(inHook)
      // the heartbeat, a third of the lease on, finds the lease lost while the hook still runs
      yield* TestClock.adjust("10 seconds")
      yield* Deferred.succeed(hookGate, undefined)
      yield* TestClock.adjust("1 second")
      yield* handle.await
      const fenced = yield* Ref.get(firstToken)
      const ran = yield* Ref.get(tokens)
      assert.isDefined(fenced)
      assert.isFalse(
        ran.some((token) => token === fenced),
        "the fenced attempt's body ran"
      )
      assert.strictEqual(ran.length, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("pauses a task that waits for a slot, and resumes it", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const single = task({ name: "single-pause", input: Schema.Number, maxParallel: 1 }, (n) =>
          n === 0 ? Deferred.await(gate).pipe(Effect.as(n)) : Effect.succeed(n)
        )
        const first = yield* runtime.submit(single, 0)
        const second = yield* runtime.submit(single, 1)
        yield* Effect.yieldNow
        assert.strictEqual(yield* second.status, "pending")
        yield* runtime.pause(second.id)
        assert.strictEqual(yield* second.status, "suspended")
        yield* Deferred.succeed(gate, undefined)
        yield* first.await
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(yield* second.status, "suspended")
        yield* runtime.resume(second.id)
        assert.strictEqual(yield* second.await, 1)
      })
    )
  )

  it.effect("times an attempt out with TaskTimeout", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const slow = task({ name: "slow", input: Schema.Void, timeout: "10 seconds" }, () => Effect.sleep("1 minute"))
        const handle = yield* runtime.submit(slow, undefined)
        yield* TestClock.adjust("10 seconds")
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "TaskTimeout")
        if (error._tag === "TaskTimeout") assert.strictEqual(error.timeoutMillis, 10_000)
        const record = yield* handle.info
        assert.deepStrictEqual([record.status, record.error?.tag], ["failed", "TaskTimeout"])
      })
    )
  )

  it.effect("retries by its Schedule, numbering attempts, and keeps the last error", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const flaky = task(
          { name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 2 })) },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              yield* Ref.update(attempts, (all) => [...all, info.attempt])
              if (info.attempt < 3) return yield* new Boom({ reason: `attempt ${info.attempt}` })
              return info.attempt
            })
        )
        const handle = yield* runtime.submit(flaky, undefined)
        yield* Effect.yieldNow
        const waiting = yield* handle.info
        assert.deepStrictEqual([waiting.status, waiting.attempt, waiting.runAt], ["pending", 2, 60_000])
        assert.strictEqual(waiting.error?.tag, "Boom")
        yield* TestClock.adjust("59 seconds")
        assert.deepStrictEqual(yield* Ref.get(attempts), [1])
        yield* TestClock.adjust("1 second")
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2])
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* handle.await, 3)
        assert.deepStrictEqual(yield* Ref.get(attempts), [1, 2, 3])
        assert.strictEqual((yield* handle.info).attempt, 3)
      })
    )
  )

  it.effect("ends the fibers an attempt forked when the attempt ends, before the next attempt runs", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const log = yield* Ref.make<ReadonlyArray<string>>([])
        const note = (line: string) => Ref.update(log, (all) => [...all, line])
        const forking = task(
          { name: "forking", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 1 })) },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              yield* note(`attempt ${info.attempt}`)
              // a child left running when the attempt ends
              yield* Effect.forkChild(
                Effect.never.pipe(Effect.onInterrupt(() => note(`child of attempt ${info.attempt} interrupted`)))
              )
              yield* Effect.yieldNow
              if (info.attempt === 1) return yield* new Boom({ reason: "once" })
              return info.attempt
            })
        )
        const handle = yield* runtime.submit(forking, undefined)
        // attempt 1 recorded as failed, to be retried in a minute
        yield* handle.events.pipe(
          Stream.filter((event) => event._tag === "StatusChanged" && event.status === "pending" && event.attempt === 2),
          Stream.take(1),
          Stream.runDrain
        )
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* handle.await, 2)
        yield* Effect.yieldNow
        assert.deepStrictEqual(yield* Ref.get(log), [
          "attempt 1",
          "child of attempt 1 interrupted",
          "attempt 2",
          "child of attempt 2 interrupted"
        ])
      })
    )
  )

  it.effect("stops retrying once a Schedule bounded in time has run out, counting from the task's start", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const attempts = yield* Ref.make<ReadonlyArray<number>>([])
        const doomed = task(
          {
            name: "doomed",
            input: Schema.Void,
            retry: Schedule.spaced("10 seconds").pipe(Schedule.upTo({ duration: "25 seconds" }))
          },
          () =>
            Effect.gen(function* () {
              const info = yield* TaskInfo
              const now = yield* Clock.currentTimeMillis
              yield* Ref.update(attempts, (all) => [...all, now])
              return yield* new Boom({ reason: `attempt ${info.attempt}` })
            })
        )
        const handle = yield* runtime.submit(doomed, undefined)
        for (let i = 0; i < 10; i++) yield* TestClock.adjust("10 seconds")
        const failed = yield* Effect.flip(handle.await)
        assert.strictEqual(failed._tag, "Boom")
        // retried at 10 and 20 s; the failure at 30 s is past the 25 s the schedule allows
        assert.deepStrictEqual(yield* Ref.get(attempts), [0, 10_000, 20_000, 30_000])
      })
    )
  )

  it.effect("fails with the last error once the Schedule allows no more attempts", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const hopeless = task({ name: "hopeless", input: Schema.Void, retry: Schedule.recurs(2) }, () =>
          Effect.flatMap(Effect.service(TaskInfo), (info) =>
            Effect.fail(new Boom({ reason: `attempt ${info.attempt}` }))
          )
        )
        const error = yield* Effect.flip(runtime.run(hopeless, undefined))
        assert.strictEqual(error._tag, "Boom")
        if (error._tag === "Boom") assert.strictEqual(error.reason, "attempt 3")
        const record = (yield* runtime.list({})).items[0]!
        assert.deepStrictEqual([record.status, record.attempt], ["failed", 3])
      })
    )
  )

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

  it.effect("a cancel the store refuses tells the waiter, and leaves the task to resume later", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const refusing = TaskStore.of({
        ...memory,
        cancelIdle: (id) => Effect.fail(new StoreError({ operation: "cancelIdle", cause: new Error(`down: ${id}`) }))
      })
      const runtime = yield* Runtime.make().pipe(Effect.provideService(TaskStore, refusing))
      const gate = yield* Deferred.make<void>()
      const single = task({ name: "single", input: Schema.Number, maxParallel: 1 }, (i) =>
        Effect.as(Deferred.await(gate), i)
      )
      const first = yield* runtime.submit(single, 1)
      const second = yield* runtime.submit(single, 2)
      yield* Effect.yieldNow
      assert.strictEqual(yield* second.status, "pending", "waits for the slot the first holds")
      assert.strictEqual((yield* Effect.flip(second.cancel))._tag, "StoreError")
      assert.strictEqual((yield* Effect.flip(second.await))._tag, "TaskCancelled")
      assert.strictEqual(yield* second.status, "pending", "the store did not record the cancel")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* first.await, 1)
      yield* runtime.resume(second.id)
      assert.strictEqual(yield* runtime.handle(single, second.id).await, 2)
    }).pipe(Effect.scoped)
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

  it.effect("interrupts running tasks on shutdown and records them pending at the same attempt", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(false)
      const forever = task({ name: "forever", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const store = yield* TaskStore
      const scope = yield* Scope.make()
      const runtime = yield* Runtime.make().pipe(Scope.provide(scope))
      const handle = yield* runtime.submit(forever, undefined)
      yield* Deferred.await(started)
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(yield* Ref.get(finalized))
      const record = Option.getOrThrow(yield* store.get(handle.id))
      assert.deepStrictEqual([record.status, record.attempt, record.leaseOwner], ["pending", 1, undefined])
      // Another runtime over the same store picks it up where it was left.
      const resumed = yield* Runtime.make({ tasks: [forever] })
      yield* resumed.resume(handle.id)
      yield* Effect.yieldNow
      assert.strictEqual(Option.getOrThrow(yield* store.get(handle.id)).status, "running")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("recovers the tasks its own identity left running, without waiting for a lease to expire", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // A process with identity "worker-1" claimed the task and died: the record says running, owned by worker-1.
      yield* store.create({ id: "orphan", name: "greet", input: { name: "again" } })
      yield* store.claim("orphan", { owner: "worker-1", expiresAt: 3_600_000 })
      const runtime = yield* Runtime.make({ id: "worker-1", tasks: [greet] })
      assert.deepStrictEqual(yield* runtime.recover, ["orphan"])
      assert.strictEqual(yield* runtime.handle(greet, "orphan").await, "hello again")
      const record = yield* runtime.get("orphan")
      assert.deepStrictEqual([record.status, record.attempt], ["completed", 1])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel that comes while a claim is written cancels the claimed task, whose body never runs", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const written = yield* Deferred.make<void>()
      const reply = yield* Deferred.make<void>()
      // A store whose claim is written at once and answers later, as a database's reply on its way.
      const slowReply = TaskStore.of({
        ...memory,
        claim: (id, lease) =>
          Effect.flatMap(memory.claim(id, lease), (claimed) =>
            Deferred.succeed(written, undefined).pipe(Effect.andThen(Deferred.await(reply)), Effect.as(claimed))
          )
      })
      const runs = yield* Ref.make(0)
      // with a limit, a task is created pending and its driver claims it
      const limited = task({ name: "limited", input: Schema.Void, maxParallel: 1 }, () =>
        Ref.update(runs, (n) => n + 1)
      )
      const runtime = yield* Runtime.make().pipe(Effect.provideService(TaskStore, slowReply))
      const handle = yield* runtime.submit(limited, undefined)
      yield* Deferred.await(written)
      const cancelling = yield* Effect.forkChild(handle.cancel, { startImmediately: true })
      yield* Deferred.succeed(reply, undefined)
      yield* Fiber.join(cancelling)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      const record = Option.getOrThrow(yield* memory.get(handle.id))
      assert.deepStrictEqual([record.status, yield* Ref.get(runs)], ["cancelled", 0])
    }).pipe(Effect.scoped)
  )

  it.effect("cancels a task that runs in another runtime: the store tells that runtime, which stops it at once", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(false)
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds", cancelGracePeriod: 0 })
      const elsewhere = yield* Runtime.make({ tasks: [long] })
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // no time passes: no heartbeat carried it
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.isTrue(yield* Ref.get(finalized))
      assert.strictEqual((yield* elsewhere.get(handle.id)).status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel from another runtime that its holder did not hear of comes with the next heartbeat", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      // a store whose requests nobody hears (a listener reconnecting)
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // asked, not done yet: the runtime running it hears of it at its next heartbeat, a third of the lease on
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* handle.info).status, "running")
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
    }).pipe(Effect.scoped)
  )

  it.effect("pauses a task that runs in another runtime, which stops it at once; resumed, it runs again", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(0)
      const pausable = task({ name: "pausable", input: Schema.Void, output: Schema.Number }, () =>
        Effect.gen(function* () {
          const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
          if (run === 1) yield* Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
          return run
        }).pipe(Effect.ensuring(Ref.update(finalized, (n) => n + 1)))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" })
      const elsewhere = yield* Runtime.make({ tasks: [pausable] })
      const handle = yield* running.submit(pausable, undefined)
      const paused = yield* Effect.forkChild(
        Stream.runHead(
          Stream.filter(
            running.subscribe({ taskId: handle.id }),
            (event) => event._tag === "StatusChanged" && event.status === "suspended"
          )
        ),
        { startImmediately: true }
      )
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      // no time passes: no heartbeat carried it
      yield* Fiber.join(paused)
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual(
        [record.status, record.suspendReason, record.leaseOwner, yield* Ref.get(finalized)],
        ["suspended", { _tag: "Paused" }, undefined, 1]
      )
      yield* TestClock.adjust("1 hour")
      assert.strictEqual(yield* Ref.get(runs), 1, "a paused task stays paused")
      yield* elsewhere.resume(handle.id)
      assert.strictEqual(yield* elsewhere.handle(pausable, handle.id).await, 2)
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a pause from another runtime that its holder did not hear of comes with the next heartbeat", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual((yield* handle.info).status, "running")
      yield* TestClock.adjust("1 second")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual([record.status, record.suspendReason], ["suspended", { _tag: "Paused" }])
    }).pipe(Effect.scoped)
  )

  it.effect("a resume that comes before the holder heard of a pause withdraws it: the task keeps running", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [long] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      yield* elsewhere.resume(handle.id)
      // heartbeats come and go: none carries a pause
      yield* TestClock.adjust("1 minute")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual([record.status, record.attempt], ["running", 1])
    }).pipe(Effect.scoped)
  )

  it.effect("a pause asked from another runtime is not lost when the attempt ends first: the retry is paused", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const deaf = TaskStore.of({ ...memory, requests: Stream.never })
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
        Ref.update(runs, (n) => n + 1).pipe(
          Effect.andThen(Deferred.succeed(started, undefined)),
          Effect.andThen(Deferred.await(gate)),
          Effect.andThen(Effect.fail(new Boom({ reason: "again" })))
        )
      )
      const hooked = yield* Ref.make<ReadonlyArray<string>>([])
      const watching = plugin({
        name: "watching",
        layer: Layer.empty,
        hooks: {
          beforeSuspend: (_, reason) => Ref.update(hooked, (all) => [...all, `beforeSuspend ${reason._tag}`]),
          onSuspend: (_, reason) => Ref.update(hooked, (all) => [...all, `onSuspend ${reason._tag}`])
        }
      })
      const running = yield* Runtime.make({ plugins: [watching] }).pipe(Effect.provideService(TaskStore, deaf))
      const elsewhere = yield* Runtime.make({ tasks: [flaky] }).pipe(Effect.provideService(TaskStore, deaf))
      const handle = yield* running.submit(flaky, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.pause(handle.id)
      // the attempt fails before any heartbeat: its retry is recorded paused
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("1 minute")
      const record = yield* elsewhere.get(handle.id)
      assert.deepStrictEqual(
        [record.status, record.suspendReason, record.attempt, record.error?.tag, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 2, "Boom", 1]
      )
      // the hooks of a suspension ran, as for a pause carried out here
      assert.deepStrictEqual(yield* Ref.get(hooked), ["beforeSuspend Paused", "onSuspend Paused"])
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a pause from another runtime carried out while the attempt's retry is written leaves no pause behind",
    () =>
      Effect.gen(function* () {
        const memory = yield* MemoryTaskStore.make
        const writing = yield* Deferred.make<void>()
        const gate = yield* Deferred.make<void>()
        const heard = yield* Deferred.make<void>()
        // the first requeue is written only once the gate opens; a heartbeat that carries the pause says so
        const slowRequeue = TaskStore.of({
          ...memory,
          heartbeat: (id, token, expiresAt) =>
            memory
              .heartbeat(id, token, expiresAt)
              .pipe(
                Effect.tapError((error) =>
                  error._tag === "PauseRequested" ? Deferred.succeed(heard, undefined) : Effect.void
                )
              ),
          finish: (id, token, transition) =>
            transition._tag === "Requeued" && transition.attempt === 2
              ? Deferred.succeed(writing, undefined).pipe(
                  Effect.andThen(Deferred.await(gate)),
                  Effect.andThen(memory.finish(id, token, transition))
                )
              : memory.finish(id, token, transition)
        })
        const started = yield* Deferred.make<number>()
        const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
          Effect.flatMap(TaskInfo, (info) =>
            info.attempt === 1
              ? Effect.fail(new Boom({ reason: "again" }))
              : Deferred.succeed(started, info.attempt).pipe(Effect.andThen(Effect.never))
          )
        )
        const elsewhere = yield* Runtime.make({ tasks: [flaky] }).pipe(Effect.provideService(TaskStore, memory))
        const id = yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(
              Effect.provideService(TaskStore, slowRequeue)
            )
            const handle = yield* running.submit(flaky, undefined)
            yield* Deferred.await(writing)
            // asked while the retry is being written: the store records the pause instead of the retry
            yield* elsewhere.pause(handle.id)
            // the holder hears of it, and its pause waits for the retry's write
            yield* Deferred.await(heard)
            for (let i = 0; i < 10; i++) yield* Effect.yieldNow
            yield* Deferred.succeed(gate, undefined)
            const paused = yield* elsewhere
              .get(handle.id)
              .pipe(Effect.repeat({ until: (record) => record.status !== "running" }))
            assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused" }])
            // resumed here, its next attempt runs; then this runtime shuts down
            yield* running.resume(handle.id)
            assert.strictEqual(yield* Deferred.await(started), 2)
            return handle.id
          })
        )
        // a shutdown hands the attempt back: no pause left over from the first one applies to it
        const record = Option.getOrThrow(yield* memory.get(id))
        assert.deepStrictEqual([record.status, record.attempt], ["pending", 2])
      })
  )

  it.effect("a pause the store carried out for this runtime leaves nothing behind: resumed, the task completes", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // left running under this runtime's identity by a previous life of it, with a live lease
      yield* store.create({ id: "t", name: "greet", input: { name: "again" } })
      yield* store.claim("t", { owner: "r1", expiresAt: 30_000 })
      const runtime = yield* Runtime.make({ id: "r1", tasks: [greet] })
      // a driver here waits for the lease; a pause is asked of this runtime's claim to come, and of the store
      yield* runtime.resume("t")
      yield* runtime.pause("t")
      // the lease expires: the store's claim carries out the pause
      yield* TestClock.adjust("31 seconds")
      const paused = yield* runtime.get("t")
      assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused" }])
      yield* runtime.resume("t")
      assert.strictEqual(yield* runtime.handle(greet, "t").await, "hello again")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a pause that comes while a claim is written pauses the claimed task, whose body never runs", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      const written = yield* Deferred.make<void>()
      const reply = yield* Deferred.make<void>()
      // A store whose claim is written at once and answers later, as a database's reply on its way.
      const slowReply = TaskStore.of({
        ...memory,
        claim: (id, lease) =>
          Effect.flatMap(memory.claim(id, lease), (claimed) =>
            Deferred.succeed(written, undefined).pipe(Effect.andThen(Deferred.await(reply)), Effect.as(claimed))
          )
      })
      const runs = yield* Ref.make(0)
      // with a limit, a task is created pending and its driver claims it
      const limited = task({ name: "limited", input: Schema.Void, maxParallel: 1 }, () =>
        Ref.update(runs, (n) => n + 1).pipe(Effect.andThen(Effect.never))
      )
      const runtime = yield* Runtime.make({ leaseDuration: "30 seconds" }).pipe(
        Effect.provideService(TaskStore, slowReply)
      )
      const handle = yield* runtime.submit(limited, undefined)
      yield* Deferred.await(written)
      // the task says `running`, under this runtime's lease, but no attempt of it executes here yet
      yield* runtime.pause(handle.id)
      yield* Deferred.succeed(reply, undefined)
      yield* TestClock.adjust("10 seconds")
      const record = Option.getOrThrow(yield* memory.get(handle.id))
      assert.deepStrictEqual(
        [record.status, record.suspendReason, yield* Ref.get(runs)],
        ["suspended", { _tag: "Paused" }, 0]
      )
    }).pipe(Effect.scoped)
  )

  it.effect("a cancel asked from another runtime is not lost when the attempt ends before it hears of it", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 second") }, () =>
        Ref.update(runs, (n) => n + 1).pipe(
          Effect.andThen(Deferred.succeed(started, undefined)),
          Effect.andThen(Deferred.await(gate)),
          Effect.andThen(Effect.fail(new Boom({ reason: "again" })))
        )
      )
      const running = yield* Runtime.make()
      const elsewhere = yield* Runtime.make({ tasks: [flaky] })
      const handle = yield* running.submit(flaky, undefined)
      yield* Deferred.await(started)
      yield* elsewhere.cancel(handle.id)
      // the attempt fails before any heartbeat: its retry is recorded as the cancel
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual([(yield* elsewhere.get(handle.id)).status, yield* Ref.get(runs)], ["cancelled", 1])
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a cancel from a runtime that only waits for a task another runs asks the one that runs it", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const long = task({ name: "long", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Effect.never))
      )
      const running = yield* Runtime.make()
      const waiting = yield* Runtime.make({ tasks: [long] })
      const handle = yield* running.submit(long, undefined)
      yield* Deferred.await(started)
      // a driver here waits for the other runtime's lease
      yield* waiting.resume(handle.id)
      yield* waiting.cancel(handle.id)
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
      assert.strictEqual((yield* waiting.get(handle.id)).status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a waiter in a runtime that asked another for a cancel sees how the task ends: here, completed", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const gate = yield* Deferred.make<void>()
      const quick = task({ name: "quick", input: Schema.Void, output: Schema.String }, () =>
        Deferred.succeed(started, undefined).pipe(Effect.andThen(Deferred.await(gate)), Effect.as("done"))
      )
      const running = yield* Runtime.make()
      const waiting = yield* Runtime.make({ tasks: [quick] })
      const handle = yield* running.submit(quick, undefined, { idempotencyKey: "k" })
      yield* Deferred.await(started)
      // a direct run with the same key waits here, through a driver of its own, for the task the other runs
      const there = yield* Effect.forkChild(waiting.run(quick, undefined, { idempotencyKey: "k" }), {
        startImmediately: true
      })
      yield* waiting.cancel(handle.id)
      // the attempt completes before any heartbeat carried the cancel to it
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* handle.await, "done")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(there), "done")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  )

  it.effect("a body that cancels its own task ends it cancelled", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const quitter = task({ name: "quitter", input: Schema.Void }, () =>
          Effect.flatMap(TaskInfo, (info) => runtime.cancel(info.id)).pipe(
            Effect.andThen(Effect.succeed("not reached"))
          )
        )
        const handle = yield* runtime.submit(quitter, undefined)
        assert.strictEqual((yield* Effect.flip(handle.await))._tag, "TaskCancelled")
        assert.strictEqual((yield* handle.info).status, "cancelled")
      })
    )
  )

  it.effect("cancelling a parent that waits for its retry cancels its children", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const child = task({ name: "child", input: Schema.Void }, () => Effect.never)
        const childIds = yield* Ref.make<ReadonlyArray<string>>([])
        const parent = task({ name: "parent", input: Schema.Void, retry: Schedule.spaced("1 hour") }, () =>
          Effect.gen(function* () {
            const started = yield* runtime.submit(child, undefined)
            yield* Ref.update(childIds, (ids) => [...ids, started.id])
            return yield* new Boom({ reason: "later" })
          })
        )
        const handle = yield* runtime.submit(parent, undefined)
        yield* Effect.yieldNow
        assert.strictEqual((yield* handle.info).status, "pending")
        yield* handle.cancel
        const [childId] = yield* Ref.get(childIds)
        assert.deepStrictEqual(
          [(yield* handle.info).status, (yield* runtime.get(childId ?? "")).status],
          ["cancelled", "cancelled"]
        )
      })
    )
  )

  it.effect("cancelling a parent cancels its children", () =>
    Effect.gen(function* () {
      const childStarted = yield* Deferred.make<string>()
      const childFinalized = yield* Ref.make(false)
      const runtimeRef = yield* Deferred.make<Runtime.Runtime<never>>()
      const child = task({ name: "child", input: Schema.Void }, () =>
        Effect.flatMap(Effect.service(TaskInfo), (info) => Deferred.succeed(childStarted, info.id)).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(childFinalized, true))
        )
      )
      const parent = task({ name: "parent", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const runtime = yield* Deferred.await(runtimeRef)
          const handle = yield* runtime.submit(child, undefined)
          return yield* handle.await
        })
      )
      const runtime = yield* Runtime.make()
      yield* Deferred.succeed(runtimeRef, runtime)
      const handle = yield* runtime.submit(parent, undefined)
      const childId = yield* Deferred.await(childStarted)
      assert.strictEqual((yield* runtime.get(childId)).parentId, handle.id)
      yield* handle.cancel
      assert.strictEqual(yield* handle.status, "cancelled")
      assert.strictEqual((yield* runtime.get(childId)).status, "cancelled")
      assert.isTrue(yield* Ref.get(childFinalized))
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
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

  it.effect("ends normally when its finish was written but the reply was lost (LeaseLost on the retry)", () =>
    Effect.gen(function* () {
      const memory = yield* MemoryTaskStore.make
      // As a statement retried after a dropped connection: the first try committed, the retry finds its token spent.
      const lostReply = TaskStore.of({
        ...memory,
        finish: (id, token, transition) =>
          Effect.andThen(memory.finish(id, token, transition), Effect.fail(new LeaseLost({ taskId: id, token })))
      })
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const watcher = plugin({
        name: "watcher",
        layer: Layer.empty,
        hooks: {
          onSuccess: (info, output) => Ref.update(seen, (all) => [...all, `success ${info.name} ${String(output)}`]),
          onFinish: (info, status) => Ref.update(seen, (all) => [...all, `finish ${info.name} ${status}`])
        }
      })
      const runtime = yield* Runtime.make({ plugins: [watcher] }).pipe(Effect.provideService(TaskStore, lostReply))
      // Subscribed before the submit: the task ends within it.
      const events = yield* Effect.forkChild(
        Stream.runCollect(
          runtime
            .subscribe({ taskId: "lost-reply" })
            .pipe(Stream.takeUntil((event) => event._tag === "StatusChanged" && event.status === "completed"))
        ),
        { startImmediately: true }
      )
      const handle = yield* runtime.submit(greet, { name: "lost" }, { id: "lost-reply" })
      assert.strictEqual(yield* handle.await, "hello lost")
      const statuses = (yield* Fiber.join(events)).map((event) => (event as StatusChanged).status)
      assert.deepStrictEqual(statuses, ["pending", "running", "completed"])
      assert.deepStrictEqual(yield* Ref.get(seen), ["success greet hello lost", "finish greet completed"])
    }).pipe(Effect.scoped)
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
