import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref, Schema, type Scope } from "effect"
import { type Durable, pause, step } from "../../../src/plugins/state/Durable.ts"
import * as StatePlugin from "../../../src/plugins/state/StatePlugin.ts"
import type { TaskState } from "../../../src/plugins/state/TaskState.ts"
import { Runtime, TaskInfo, task } from "../../../src/runtime/index.ts"
import { MemoryStepStore, MemoryStore, StepStore, StoreError, type TaskStore } from "../../../src/stores/index.ts"
import { PgliteStore } from "../../../src/stores/postgres/index.ts"

type Steps = StepStore["Service"]

/** The step store's calls, in order, by operation name; `failReads` makes that many `listSteps` fail first. */
interface Calls {
  readonly log: Array<string>
  failReads: number
}

const counting = (inner: Steps, calls: Calls): Steps => {
  const logged =
    <Args extends ReadonlyArray<unknown>, A, E>(name: string, f: (...args: Args) => Effect.Effect<A, E>) =>
    (...args: Args) =>
      Effect.suspend(() => {
        calls.log.push(name)
        return f(...args)
      })
  return {
    getStep: logged("getStep", inner.getStep),
    putStep: logged("putStep", inner.putStep),
    checkpoint: logged("checkpoint", inner.checkpoint),
    listSteps: logged("listSteps", (taskId: string, prefix?: string | undefined) => {
      // Not at once, so that steps started together are all waiting for this read.
      if (calls.failReads === 0) return Effect.andThen(Effect.yieldNow, inner.listSteps(taskId, prefix))
      calls.failReads--
      return Effect.fail(new StoreError({ operation: "listSteps", cause: new Error("connection lost") }))
    }),
    sendSignal: logged("sendSignal", inner.sendSignal),
    receiveSignal: logged("receiveSignal", inner.receiveSignal),
    pendingSignals: logged("pendingSignals", inner.pendingSignals)
  }
}

/** A runtime with the state plugin over the memory stores, its step store's calls logged. */
const withRuntime = <A, E>(
  f: (
    runtime: Runtime.Runtime<TaskState | Durable>,
    calls: Calls,
    steps: Steps
  ) => Effect.Effect<A, E, TaskStore | StepStore | Scope.Scope>
) =>
  Effect.gen(function* () {
    const inner = yield* StepStore
    const calls: Calls = { log: [], failReads: 0 }
    const steps = counting(inner, calls)
    return yield* Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      return yield* f(runtime, calls, inner)
    }).pipe(Effect.provideService(StepStore, steps))
  }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

/** What the log holds from `from` on, counted by operation. */
const countsSince = (calls: Calls, from: number): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const name of calls.log.slice(from)) counts[name] = (counts[name] ?? 0) + 1
  return counts
}

describe("Durable steps: one read per run", () => {
  it.effect("a fresh task's first run reads no recorded steps: each step makes one store call, its checkpoint", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        const afterFirstStep = yield* Ref.make(-1)
        const three = task({ name: "three", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const a = yield* step("a", Effect.succeed(1))
            yield* Ref.set(afterFirstStep, calls.log.length)
            const b = yield* step("b", Effect.succeed(2))
            const c = yield* step("c", Effect.succeed({ n: 3 }))
            return [a, b, c]
          })
        )
        assert.deepStrictEqual(yield* runtime.run(three, undefined), [1, 2, { n: 3 }])
        assert.deepStrictEqual(calls.log.slice(0, yield* Ref.get(afterFirstStep)), ["checkpoint"])
        assert.deepStrictEqual(calls.log, ["checkpoint", "checkpoint", "checkpoint"])
      })
    )
  )

  it.effect("a re-run reads the recorded steps once, runs none of their effects again, and records only new ones", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        const effects = yield* Ref.make<ReadonlyArray<string>>([])
        const runs = yield* Ref.make(0)
        const secondRun = yield* Ref.make(-1)
        const ran = (name: string, value: number) =>
          Effect.as(
            Ref.update(effects, (all) => [...all, name]),
            value
          )
        const resumed = task({ name: "resumed", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            if (run === 2) yield* Ref.set(secondRun, calls.log.length)
            const a = yield* step("a", ran("a", 1))
            const b = yield* step("b", ran("b", 2))
            if (run === 1) yield* pause()
            const c = yield* step("c", ran("c", 3))
            return a + b + c
          })
        )
        assert.strictEqual(yield* runtime.run(resumed, undefined), 6)
        assert.deepStrictEqual(yield* Ref.get(effects), ["a", "b", "c"])
        assert.deepStrictEqual(countsSince(calls, 0), { listSteps: 1, checkpoint: 3 })
        assert.deepStrictEqual(calls.log.slice(yield* Ref.get(secondRun)), ["listSteps", "checkpoint"], "the re-run")
      })
    )
  )

  it.effect("steps run at once in one body share the re-run's one read (a fresh task's first run reads none)", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        const effects = yield* Ref.make(0)
        const runs = yield* Ref.make(0)
        const parallel = task({ name: "parallel", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
            const values = yield* Effect.all(
              ["a", "b", "c", "d"].map((name, i) =>
                step(
                  name,
                  Effect.as(
                    Ref.update(effects, (n) => n + 1),
                    i
                  )
                )
              ),
              { concurrency: "unbounded" }
            )
            if (run === 1) yield* pause()
            return values
          })
        )
        assert.deepStrictEqual(yield* runtime.run(parallel, undefined), [0, 1, 2, 3])
        assert.strictEqual(yield* Ref.get(effects), 4, "each effect ran once, in the first run")
        assert.deepStrictEqual(countsSince(calls, 0), { listSteps: 1, checkpoint: 4 })
      })
    )
  )

  it.effect("uses the stored result when another attempt recorded the step first", () =>
    withRuntime((runtime, calls, inner) =>
      Effect.gen(function* () {
        const raced = task({ name: "raced", input: Schema.Void }, () =>
          Effect.gen(function* () {
            // Recorded by someone else after this run read the task's steps, before its own checkpoint.
            const mine = step("s", Effect.succeed("mine"))
            yield* step("first", Effect.succeed(0))
            yield* inner.putStep((yield* TaskInfo).id, "step:s", "theirs")
            return yield* mine
          })
        )
        assert.strictEqual(yield* runtime.run(raced, undefined), "theirs")
        assert.deepStrictEqual(countsSince(calls, 0), { checkpoint: 2 })
      })
    )
  )

  it.effect("a failed read is not kept: the next step of the run reads again", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const retried = task({ name: "retried", input: Schema.Void }, () =>
          Effect.gen(function* () {
            // A first run reads nothing: the read to fail is the second run's.
            if ((yield* Ref.updateAndGet(runs, (n) => n + 1)) === 1) {
              yield* step("a", Effect.succeed(1))
              yield* pause()
            }
            yield* Effect.sync(() => {
              calls.failReads = 1
            })
            const failed = yield* Effect.flip(step("b", Effect.succeed(2)))
            const again = yield* step("c", Effect.succeed(3))
            return [failed._tag, again]
          })
        )
        assert.deepStrictEqual(yield* runtime.run(retried, undefined), ["StoreError", 3])
        assert.deepStrictEqual(calls.log, ["checkpoint", "listSteps", "listSteps", "checkpoint"])
      })
    )
  )
})

/** Steps of two tasks under keys of several kinds; task t1's keys starting with "step:" are `step:a` and `step:b`. */
const listsByPrefix = Effect.gen(function* () {
  const steps = yield* StepStore
  for (const [taskId, key] of [
    ["t1", "step:a"],
    ["t1", "model:0"],
    ["t1", "signal:go:0"],
    ["t1", "step:b"],
    ["t1", "stepx"],
    ["t1", "step%"],
    ["t2", "step:a"]
  ] as const) {
    yield* steps.putStep(taskId, key, `${taskId}/${key}`)
  }
  const prefixed = yield* steps.listSteps("t1", "step:")
  assert.deepStrictEqual(
    [...prefixed].sort(([a], [b]) => a.localeCompare(b)),
    [
      ["step:a", "t1/step:a"],
      ["step:b", "t1/step:b"]
    ]
  )
  assert.deepStrictEqual([...(yield* steps.listSteps("t1", "step%")).keys()], ["step%"], "a prefix is not a pattern")
  assert.strictEqual((yield* steps.listSteps("t1")).size, 6, "without a prefix, every key of the task")
})

describe("StepStore.listSteps with a prefix", () => {
  it.effect("memory: only the task's keys starting with the prefix", () =>
    listsByPrefix.pipe(Effect.provide(MemoryStepStore.layer))
  )

  it.live("PGlite: only the task's keys starting with the prefix", () =>
    listsByPrefix.pipe(Effect.provide(PgliteStore.layer()))
  )
})
