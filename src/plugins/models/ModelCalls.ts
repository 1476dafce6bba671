/**
 * The model-call plugin: inside a task, `LanguageModel.generateText`, `generateObject` and `streamText` (Effect AI,
 * called as its documentation shows) are durable. The runtime is given the user's own provider layer (anything that
 * provides `LanguageModel`); each execution gets it wrapped by `DurableModel`, so a run of the body after a pause,
 * a signal or a crash reads recorded answers instead of paying for them again, and every call's usage is kept with
 * the task (`ModelUsage.ofTask`, `ModelUsage.ofTree`).
 */
import { Effect, Layer, Option } from "effect"
import { LanguageModel } from "effect/ai"
import { type Plugin, plugin } from "../../runtime/Plugin.ts"
import { TaskEvents } from "../../runtime/TaskEvents.ts"
import { TaskInfo } from "../../runtime/TaskInfo.ts"
import { BudgetStore } from "../../stores/BudgetStore.ts"
import { RateLimitStore } from "../../stores/RateLimitStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import { approvalSignalPrefix } from "./Approvals.ts"
import { type DurableModelOptions, makeDurableModel } from "./DurableModel.ts"
import { makeCallBudget } from "./internal/callBudget.ts"
import { makeCallPermit } from "./internal/callPermit.ts"

export type ModelCallsOptions = DurableModelOptions

/**
 * Makes the plugin. The runtime must be given a `LanguageModel` (the provider's layer, or `ScriptedModel.layer`
 * from `effect-waypoint/testing` in tests).
 *
 * @example
 * ```ts
 * const runtime = yield* Runtime.make({ plugins: [ModelCalls.make({ prices })] }).pipe(Effect.provide(OpenAiLayer))
 * const ask = task({ name: "ask", input: Schema.String }, (question) =>
 *   Effect.map(LanguageModel.generateText({ prompt: question }), (response) => response.text)
 * )
 * ```
 */
export const make = (
  options: ModelCallsOptions = {}
): Plugin<LanguageModel.LanguageModel, LanguageModel.LanguageModel | StepStore | TaskStore> =>
  plugin<LanguageModel.LanguageModel, LanguageModel.LanguageModel | StepStore | TaskStore>({
    name: "model-calls",
    layer: Layer.effect(
      LanguageModel.LanguageModel,
      Effect.gen(function* () {
        const inner = yield* LanguageModel.LanguageModel
        const task = yield* TaskInfo
        const steps = yield* StepStore
        const events = yield* TaskEvents
        const budget = makeCallBudget(task, yield* Effect.serviceOption(BudgetStore), yield* TaskStore)
        const permit = makeCallPermit(
          task,
          yield* Effect.serviceOption(RateLimitStore),
          options.provider ?? "default",
          options
        )
        return makeDurableModel(inner, { task, steps, events, budget, permit }, options)
      })
    ),
    hooks: {
      // A task with a budget opens its ledger before its body runs, so before any of its children exists.
      onStart: (task) =>
        task.budget === undefined
          ? Effect.void
          : Effect.gen(function* () {
              const budgets = yield* Effect.serviceOption(BudgetStore)
              if (Option.isNone(budgets)) {
                return yield* Effect.logWarning(`task ${task.id} has a budget, but the runtime has no BudgetStore`)
              }
              const limits = task.budget ?? {}
              yield* budgets.value.open(task.id, {
                calls: limits.calls,
                tokens: limits.tokens,
                costNanos: limits.cost === undefined ? undefined : Math.round(limits.cost * 1e9)
              })
            }).pipe(Effect.catch((error) => Effect.logWarning("budget not opened", error))),
      // Calls that never settled (a failure in the middle) hold nothing once the task has ended.
      onFinish: (task) =>
        Effect.flatMap(Effect.serviceOption(BudgetStore), (budgets) =>
          Option.isNone(budgets) ? Effect.void : Effect.ignore(budgets.value.release(task.id))
        ),
      // A decision sent while the task still ran could not wake it: look once more now it waits for one.
      onSuspend: (task, reason) =>
        reason._tag !== "WaitingForSignal" || !reason.signal.startsWith(approvalSignalPrefix)
          ? Effect.void
          : Effect.gen(function* () {
              if ((yield* (yield* StepStore).pendingSignals(task.id, reason.signal)) === 0) return
              yield* (yield* TaskStore).wake(task.id)
            }).pipe(Effect.ignore)
    }
  })
