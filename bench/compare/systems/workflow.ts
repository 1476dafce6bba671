/**
 * Effect's own `effect/workflow` (the root's `effect`) on its in-memory engine (`WorkflowEngine.layerMemory`): a
 * workflow of N activities, each `Activity.make({ execute: Effect.succeed(i) })`, and trivial workflows (one
 * activity) executed all at once then awaited. Every execution gets a fresh idempotency key, so none is a replay.
 */
import { randomUUID } from "node:crypto"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"
import { Activity, Workflow, WorkflowEngine } from "effect/workflow"
import type { BenchContext, Scenario, System } from "../scenario.ts"

const Steps = Workflow.make("Steps", {
  payload: { n: Schema.Number, run: Schema.String },
  success: Schema.Number,
  idempotencyKey: ({ run }) => run
})
const Trivial = Workflow.make("Trivial", {
  payload: { i: Schema.Number, run: Schema.String },
  success: Schema.Number,
  idempotencyKey: ({ run }) => run
})

const workflows = Layer.mergeAll(
  Steps.toLayer(({ n }) =>
    Effect.gen(function* () {
      let last = 0
      for (let i = 0; i < n; i++) {
        last = yield* Activity.make({ name: `a${i}`, success: Schema.Number, execute: Effect.succeed(i) })
      }
      return last
    })
  ),
  Trivial.toLayer(({ i }) => Activity.make({ name: "a", success: Schema.Number, execute: Effect.succeed(i + 1) }))
).pipe(Layer.provideMerge(WorkflowEngine.layerMemory))

const scenarios = (_: BenchContext): ReadonlyArray<Scenario> => {
  let runtime: ManagedRuntime.ManagedRuntime<WorkflowEngine.WorkflowEngine, never> | undefined
  let users = 0
  const setup = async () => {
    if (users++ === 0) runtime = ManagedRuntime.make(workflows)
  }
  const teardown = async () => {
    if (--users === 0) await runtime?.dispose()
  }
  return [
    {
      name: "step.memory",
      setup,
      teardown,
      run: async (n) => {
        const start = performance.now()
        await runtime!.runPromise(Steps.execute({ n, run: randomUUID() }))
        return (performance.now() - start) / n
      }
    },
    {
      name: "trivial.memory",
      setup,
      teardown,
      run: async (n) => {
        const start = performance.now()
        await runtime!.runPromise(
          Effect.forEach(
            Array.from({ length: n }, (_, i) => i),
            (i) => Trivial.execute({ i, run: randomUUID() }),
            { concurrency: "unbounded", discard: true }
          )
        )
        return (performance.now() - start) / n
      }
    }
  ]
}

export const workflow: System = { name: "workflow", scenarios }
