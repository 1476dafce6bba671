import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Schema, type Scope } from "effect"
import { type Durable, pause, step } from "../../../src/plugins/state/Durable.ts"
import * as StatePlugin from "../../../src/plugins/state/StatePlugin.ts"
import { TaskState } from "../../../src/plugins/state/TaskState.ts"
import { Runtime, task } from "../../../src/runtime/index.ts"
import { MemoryStore, StateStore, StepStore, type TaskStore } from "../../../src/stores/index.ts"
import { taskScopeId } from "../../../src/stores/StateStore.ts"

/** The state and step stores' calls of interest, by operation name. */
interface Calls {
  readonly log: Array<string>
}

/** A runtime with the state plugin over the memory stores, `clear` and `listSteps` logged. */
const withRuntime = <A, E>(
  f: (
    runtime: Runtime.Runtime<TaskState | Durable>,
    calls: Calls,
    state: StateStore["Service"]
  ) => Effect.Effect<A, E, TaskStore | Scope.Scope>
) =>
  Effect.gen(function* () {
    const state = yield* StateStore
    const steps = yield* StepStore
    const calls: Calls = { log: [] }
    const countedState = StateStore.of({
      ...state,
      clear: (scope) =>
        Effect.andThen(
          Effect.sync(() => calls.log.push("clear")),
          state.clear(scope)
        )
    })
    const countedSteps = StepStore.of({
      ...steps,
      listSteps: (taskId, prefix) =>
        Effect.andThen(
          Effect.sync(() => calls.log.push("listSteps")),
          steps.listSteps(taskId, prefix)
        )
    })
    return yield* Effect.gen(function* () {
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      return yield* f(runtime, calls, state)
    }).pipe(Effect.provideService(StateStore, countedState), Effect.provideService(StepStore, countedSteps))
  }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

const count = (calls: Calls, name: string) => calls.log.filter((call) => call === name).length

describe("StatePlugin on a task's first run", () => {
  it.effect("an empty fresh task makes no state delete, and its first step no read of recorded steps", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        const empty = task({ name: "empty", input: Schema.Void }, () => Effect.void)
        const stepped = task({ name: "stepped", input: Schema.Void }, () =>
          Effect.zipWith(step("a", Effect.succeed(1)), step("b", Effect.succeed(2)), (a, b) => a + b)
        )
        yield* runtime.run(empty, undefined)
        assert.strictEqual(yield* runtime.run(stepped, undefined), 3)
        assert.deepStrictEqual(calls.log, [])
      })
    )
  )

  it.effect("a fresh task that writes its state clears it at its end", () =>
    withRuntime((runtime, calls, state) =>
      Effect.gen(function* () {
        const writer = task({ name: "writer", input: Schema.Void }, () =>
          Effect.flatMap(Effect.service(TaskState), (own) => own.set("k", 1))
        )
        const stepWriter = task({ name: "step-writer", input: Schema.Void }, () =>
          step("s", Effect.succeed(2), { state: (n) => ({ n }) })
        )
        const a = yield* runtime.submit(writer, undefined)
        yield* a.await
        const b = yield* runtime.submit(stepWriter, undefined)
        yield* b.await
        assert.strictEqual(count(calls, "clear"), 2)
        assert.strictEqual((yield* state.getAll(taskScopeId(a.id))).size, 0)
        assert.strictEqual((yield* state.getAll(taskScopeId(b.id))).size, 0)
      })
    )
  )

  it.effect("state written before a suspension is cleared when the task ends in a later run that writes none", () =>
    withRuntime((runtime, calls, state) =>
      Effect.gen(function* () {
        let runs = 0
        const resumed = task({ name: "resumed", input: Schema.Void }, () =>
          Effect.gen(function* () {
            if (runs++ > 0) return
            yield* (yield* TaskState).set("k", "kept across the pause")
            yield* pause()
          })
        )
        const handle = yield* runtime.submit(resumed, undefined)
        yield* handle.await
        assert.strictEqual(runs, 2)
        assert.strictEqual(count(calls, "clear"), 1)
        assert.isTrue(Option.isNone(yield* state.get(taskScopeId(handle.id), "k")))
        // the re-run read its recorded steps (there might have been some); the first run did not
        assert.strictEqual(count(calls, "listSteps"), 0, "neither run took a step")
      })
    )
  )

  it.effect("a run after a suspension reads the recorded steps at its first step", () =>
    withRuntime((runtime, calls) =>
      Effect.gen(function* () {
        let runs = 0
        let effects = 0
        const resumed = task({ name: "stepped-resumed", input: Schema.Void }, () =>
          Effect.gen(function* () {
            const a = yield* step(
              "a",
              Effect.sync(() => ++effects)
            )
            if (runs++ === 0) yield* pause()
            return a
          })
        )
        assert.strictEqual(yield* runtime.run(resumed, undefined), 1, "the recorded step was read back")
        assert.strictEqual(effects, 1)
        assert.strictEqual(count(calls, "listSteps"), 1)
      })
    )
  )
})
