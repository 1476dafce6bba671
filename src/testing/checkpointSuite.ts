/**
 * `StepStore.checkpoint` against any backend that keeps tasks, state and steps together: a step's result and its
 * state in one all-or-nothing write, fenced by the attempt's token.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option } from "effect"
import { StateStore } from "../stores/StateStore.ts"
import { StepStore } from "../stores/StepStore.ts"
import { TaskStore } from "../stores/TaskStore.ts"

export const checkpointSuite = <E>(name: string, layer: Layer.Layer<TaskStore | StateStore | StepStore, E>) =>
  describe(`StepStore.checkpoint: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, TaskStore | StateStore | StepStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    const claimed = (id: string) =>
      Effect.gen(function* () {
        const tasks = yield* TaskStore
        yield* tasks.create({ id, name: "job", input: null })
        return Option.getOrThrow(yield* tasks.claim(id, { owner: "w", expiresAt: 60_000 })).fencingToken
      })

    test(
      "records the step and its state together",
      Effect.gen(function* () {
        const token = yield* claimed("t")
        const steps = yield* StepStore
        const state = yield* StateStore
        const recorded = yield* steps.checkpoint({
          taskId: "t",
          token,
          key: "step:one",
          value: { rows: 10 },
          state: {
            scope: "task:t",
            entries: new Map([
              ["done", { value: 1 }],
              ["cursor", { value: "abc", expiresAt: 99 }]
            ])
          }
        })
        assert.deepStrictEqual(recorded, { rows: 10 })
        assert.deepStrictEqual(yield* steps.getStep("t", "step:one"), Option.some({ rows: 10 }))
        const done = Option.getOrThrow(yield* state.get("task:t", "done"))
        assert.deepStrictEqual([done.value, done.version], [1, 1])
        assert.strictEqual(Option.getOrThrow(yield* state.get("task:t", "cursor")).expiresAt, 99)
        yield* steps.checkpoint({ taskId: "t", token, key: "step:two", value: null })
        assert.deepStrictEqual(yield* steps.getStep("t", "step:two"), Option.some(null))
      })
    )

    test(
      "keeps the first recorded result of a step, and the state written with it",
      Effect.gen(function* () {
        const token = yield* claimed("t")
        const steps = yield* StepStore
        const state = yield* StateStore
        const withState = (value: string) => ({ scope: "task:t", entries: new Map([["by", { value }]]) })
        yield* steps.checkpoint({ taskId: "t", token, key: "step:one", value: "first", state: withState("first") })
        const again = yield* steps.checkpoint({
          taskId: "t",
          token,
          key: "step:one",
          value: "second",
          state: withState("second")
        })
        assert.strictEqual(again, "first")
        const by = Option.getOrThrow(yield* state.get("task:t", "by"))
        assert.deepStrictEqual([by.value, by.version], ["first", 1])
      })
    )

    test(
      "refuses a stale token with LeaseLost and writes nothing",
      Effect.gen(function* () {
        const first = yield* claimed("t")
        const tasks = yield* TaskStore
        yield* tasks.finish("t", first, { _tag: "Requeued", attempt: 1 })
        const second = Option.getOrThrow(yield* tasks.claim("t", { owner: "other", expiresAt: 60_000 })).fencingToken
        const steps = yield* StepStore
        const state = yield* StateStore
        const error = yield* Effect.flip(
          steps.checkpoint({
            taskId: "t",
            token: first,
            key: "step:one",
            value: "stale",
            state: { scope: "task:t", entries: new Map([["done", { value: 1 }]]) }
          })
        )
        assert.strictEqual(error._tag, "LeaseLost")
        assert.isTrue(Option.isNone(yield* steps.getStep("t", "step:one")))
        assert.isTrue(Option.isNone(yield* state.get("task:t", "done")))
        assert.strictEqual(
          yield* steps.checkpoint({ taskId: "t", token: second, key: "step:one", value: "fresh" }),
          "fresh"
        )
      })
    )
  })
