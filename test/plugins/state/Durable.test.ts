import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { Durable, pause, step, waitForSignal } from "../../../src/plugins/state/Durable.ts"
import { plugin, Runtime, task } from "../../../src/runtime/index.ts"
import { MemoryStepStore, MemoryTaskStore, StepStore, type TaskStore } from "../../../src/stores/index.ts"

const durablePlugin = plugin({ name: "durable", layer: Durable.layer })
const Stores = Layer.merge(MemoryTaskStore.layer, MemoryStepStore.layer)

const withRuntime = <A, E>(
  f: (runtime: Runtime.Runtime<Durable>) => Effect.Effect<A, E, TaskStore | StepStore | Scope.Scope>
) =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make({ plugins: [durablePlugin] })
    return yield* f(runtime)
  }).pipe(Effect.scoped, Effect.provide(Stores))

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

describe("Durable", () => {
  it.effect("does not run a step's effect again when the body runs again after a pause", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const effects = yield* Ref.make(0)
        const bodyRuns = yield* Ref.make(0)
        const twoRuns = task({ name: "two-runs", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(bodyRuns, (n) => n + 1)
            const value = yield* step(
              "expensive",
              Ref.updateAndGet(effects, (n) => n + 1)
            )
            if (run === 1) yield* pause()
            return value
          })
        )
        assert.strictEqual(yield* runtime.run(twoRuns, undefined), 1)
        assert.strictEqual(yield* Ref.get(effects), 1)
        assert.strictEqual(yield* Ref.get(bodyRuns), 2)
      })
    )
  )

  it.effect("rejects a step name used twice in one run", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const twice = task({ name: "twice", input: Schema.Void }, () =>
          Effect.andThen(step("same", Effect.succeed(1)), step("same", Effect.succeed(2)))
        )
        const error = yield* Effect.flip(runtime.run(twice, undefined))
        assert.strictEqual(error._tag, "DuplicateStep")
      })
    )
  )

  it.effect("pauses: suspended until the delay has passed, with its slot free meanwhile", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const napper = task({ name: "napper", input: Schema.Number, maxParallel: 1 }, (n) =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (k) => k + 1)
            if (n === 0 && run === 1) yield* pause({ delay: "1 hour" })
            return n
          })
        )
        const first = yield* runtime.submit(napper, 0)
        yield* Effect.yieldNow
        const info = yield* first.info
        assert.strictEqual(info.status, "suspended")
        assert.deepStrictEqual(info.suspendReason, { _tag: "Paused", until: 3_600_000 })
        // maxParallel is 1, yet another instance runs while the first is paused.
        const second = yield* runtime.submit(napper, 1)
        assert.strictEqual(yield* second.await, 1)
        yield* TestClock.adjust("59 minutes")
        assert.strictEqual(yield* first.status, "suspended")
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* first.await, 0)
        assert.strictEqual((yield* first.info).attempt, 1, "a pause is not a retry")
      })
    )
  )

  it.effect("receives a signal sent before the task waits", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve", input: Schema.Void }, () => waitForSignal("approval", Approval))
        const handle = yield* runtime.submit(approve, undefined)
        yield* handle.signal("approval", { approved: true, by: "ada" })
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "ada" })
      })
    )
  )

  it.effect("receives a signal sent while the task runs, before it reaches the wait", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const gate = yield* Deferred.make<void>()
        const approve = task({ name: "approve-later", input: Schema.Void }, () =>
          Effect.andThen(Deferred.await(gate), waitForSignal("approval", Approval))
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        assert.strictEqual(yield* handle.status, "running")
        yield* handle.signal("approval", { approved: false, by: "lin" })
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* handle.await, { approved: false, by: "lin" })
      })
    )
  )

  it.effect("suspends while waiting, shows why, and resumes when the signal arrives", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve-wait", input: Schema.Void }, () => waitForSignal("approval", Approval))
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        const info = yield* handle.info
        assert.strictEqual(info.status, "suspended")
        assert.deepStrictEqual(info.suspendReason, { _tag: "WaitingForSignal", signal: "approval" })
        yield* runtime.signal(handle.id, "approval", { approved: true, by: "grace" })
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "grace" })
      })
    )
  )

  it.effect("delivers each signal exactly once, oldest first", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        // The three signals are all in the mailbox before the task asks for the first one.
        const gate = yield* Deferred.make<void>()
        const collect = task({ name: "collect", input: Schema.Void }, () =>
          Deferred.await(gate).pipe(
            Effect.andThen(Effect.all([waitForSignal("n", Schema.Number), waitForSignal("n", Schema.Number)]))
          )
        )
        const handle = yield* runtime.submit(collect, undefined)
        yield* handle.signal("n", 1)
        yield* handle.signal("n", 2)
        yield* handle.signal("n", 3)
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* handle.await, [1, 2])
        const steps = yield* StepStore
        assert.strictEqual(yield* steps.pendingSignals(handle.id, "n"), 1)
      })
    )
  )

  it.effect("refuses a payload that does not match the signal's Schema, and the task keeps waiting", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve-typed", input: Schema.Void, signals: { approval: Approval } }, () =>
          waitForSignal("approval", Approval)
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        const error = yield* Effect.flip(handle.signal("approval", { approved: "yes" }))
        assert.strictEqual(error._tag, "SignalRejected")
        assert.strictEqual(yield* handle.status, "suspended")
        const steps = yield* StepStore
        assert.strictEqual(yield* steps.pendingSignals(handle.id, "approval"), 0, "nothing was stored")
        yield* handle.signal("approval", { approved: true, by: "ok" })
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "ok" })
      })
    )
  )

  it.effect("fails a step whose result is not JSON with StepResultInvalid, naming where, and records nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const dated = task({ name: "dated", input: Schema.Void }, () =>
          Effect.asVoid(step("when", Effect.succeed({ at: new Date(0) })))
        )
        const error = yield* Effect.flip(runtime.run(dated, undefined))
        assert.strictEqual(error._tag, "StepResultInvalid")
        if (error._tag === "StepResultInvalid") {
          assert.include(error.issue, "$.at is an instance of Date")
          assert.include(error.issue, "give the step a schema")
        }
        const steps = yield* StepStore
        const [record] = (yield* runtime.list({})).items
        assert.isTrue(Option.isNone(yield* steps.getStep(record?.id ?? "", "step:when")))
      })
    )
  )

  it.effect("fails the wait with SignalPayloadInvalid when an undeclared signal's payload does not match", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve-undeclared", input: Schema.Void }, () =>
          waitForSignal("approval", Approval)
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* handle.signal("approval", { approved: "yes" }) // not declared: any JSON is accepted when sent
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "SignalPayloadInvalid")
        if (error._tag === "SignalPayloadInvalid") {
          assert.strictEqual(error.signal, "approval")
          assert.include(error.message, 'signal "approval"')
        }
      })
    )
  )

  it.effect("refuses a signal of a name the task does not declare, storing nothing", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve-declared", input: Schema.Void, signals: { approval: Approval } }, () =>
          waitForSignal("approval", Approval)
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        const error = yield* Effect.flip(handle.signal("aproval", { approved: true, by: "typo" }))
        assert.strictEqual(error._tag, "SignalRejected")
        if (error._tag === "SignalRejected") assert.strictEqual(error.cause, "UnknownSignal")
        const steps = yield* StepStore
        assert.strictEqual(yield* steps.pendingSignals(handle.id, "aproval"), 0, "nothing was stored")
        assert.strictEqual(yield* handle.status, "suspended")
      })
    )
  )

  it.effect("wakes a waiting task only with a signal it waits for: other signals stay in its mailbox", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const approve = task({ name: "approve-only", input: Schema.Void }, () =>
          Effect.andThen(
            Ref.update(runs, (n) => n + 1),
            waitForSignal("approval", Approval)
          )
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        for (let i = 0; i < 20; i++) yield* handle.signal("other", i)
        yield* Effect.yieldNow
        assert.strictEqual(yield* Ref.get(runs), 1, "no signal it does not wait for ran the body again")
        assert.strictEqual(yield* handle.status, "suspended")
        const steps = yield* StepStore
        assert.strictEqual(yield* steps.pendingSignals(handle.id, "other"), 20, "kept for a later wait")
        yield* handle.signal("approval", { approved: true, by: "ada" })
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "ada" })
        assert.strictEqual(yield* Ref.get(runs), 2)
      })
    )
  )

  it.effect("does not wake a task paused from outside with a signal; resumed, it receives it", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const gate = yield* Deferred.make<void>()
        const approve = task({ name: "approve-paused", input: Schema.Void }, () =>
          Effect.andThen(
            Ref.update(runs, (n) => n + 1),
            Effect.andThen(Deferred.await(gate), waitForSignal("approval", Approval))
          )
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        yield* runtime.pause(handle.id)
        assert.strictEqual(yield* handle.status, "suspended")
        yield* handle.signal("approval", { approved: true, by: "ada" })
        yield* Effect.yieldNow
        assert.strictEqual(yield* handle.status, "suspended", "still paused")
        assert.strictEqual(yield* Ref.get(runs), 1)
        yield* Deferred.succeed(gate, undefined)
        yield* runtime.resume(handle.id)
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "ada" })
      })
    )
  )

  it.effect("ends the wait with SignalTimeout, and a later signal cannot change that", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const approve = task({ name: "approve-timeout", input: Schema.Void }, () =>
          waitForSignal("approval", Approval, { timeout: "1 hour" })
        )
        const handle = yield* runtime.submit(approve, undefined)
        yield* Effect.yieldNow
        assert.deepStrictEqual((yield* handle.info).suspendReason, {
          _tag: "WaitingForSignal",
          signal: "approval",
          until: 3_600_000
        })
        const waiting = yield* Effect.forkChild(Effect.flip(handle.await))
        yield* TestClock.adjust("1 hour")
        const error = yield* Fiber.join(waiting)
        assert.strictEqual(error._tag, "SignalTimeout")
        const late = yield* Effect.flip(handle.signal("approval", { approved: true, by: "late" }))
        assert.strictEqual(late._tag, "SignalRejected")
      })
    )
  )

  it.effect("records which of signal and timeout won, so a re-run reads the same answer", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const replay = task({ name: "replay", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const answer = yield* waitForSignal("approval", Approval, { timeout: "1 hour" })
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            if (run === 1) yield* pause({ delay: "2 hours" })
            return answer
          })
        )
        const handle = yield* runtime.submit(replay, undefined)
        yield* handle.signal("approval", { approved: true, by: "first" })
        yield* Effect.yieldNow
        yield* handle.signal("approval", { approved: false, by: "second" })
        yield* TestClock.adjust("2 hours")
        assert.deepStrictEqual(yield* handle.await, { approved: true, by: "first" })
        const info = yield* Effect.flatMap(Effect.service(StepStore), (s) => s.getStep(handle.id, "signal:approval:0"))
        assert.isTrue(Option.isSome(info))
      })
    )
  )
})
