/**
 * The budgets a task's model calls are checked against: its own (its definition's `budget`) and every ancestor's.
 * The chain is read once per execution; a task with no budget on its chain (or a runtime with no `BudgetStore`)
 * checks nothing, so a call costs no more than its record. Otherwise each call reserves before it is made and
 * settles after it is recorded (or, answered from its record after a crash, settles what the crash left held).
 */
import { Effect, Option } from "effect"
import { AiError } from "effect/ai"
import type { TaskInfo } from "../../../runtime/TaskInfo.ts"
import type { BudgetReached, BudgetStore } from "../../../stores/BudgetStore.ts"
import type { StoreError } from "../../../stores/errors.ts"
import type { TaskStore } from "../../../stores/TaskStore.ts"
import { budgetMetadataKey } from "../ModelBudget.ts"
import type { CallUsage } from "../ModelUsage.ts"

export interface CallBudget {
  /** Reserves for the call `key`; fails with `AiError` (`QuotaExhaustedError`) when a budget is reached. */
  readonly reserve: (key: string, method: string) => Effect.Effect<void, AiError.AiError | StoreError>
  /** Settles the call `key` with what it used (nothing left held, nothing done). */
  readonly settle: (key: string, usage: CallUsage | undefined) => Effect.Effect<void, StoreError>
}

/** No budget: nothing reserved, nothing settled. */
export const noBudget: CallBudget = { reserve: () => Effect.void, settle: () => Effect.void }

const refused = (method: string, reached: BudgetReached) =>
  AiError.make({
    module: "ModelCalls",
    // The reason's own message speaks of a provider's billing: say first that a budget of this run refused it.
    method: `${method} refused: the budget of task ${reached.ownerId} is reached (${reached.dimension}: ${reached.used} of ${reached.limit}${reached.dimension === "cost" ? " nano-dollars" : ""})`,
    reason: new AiError.QuotaExhaustedError({
      metadata: {
        [budgetMetadataKey]: {
          budget: reached.ownerId,
          dimension: reached.dimension,
          limit: reached.limit,
          used: reached.used
        }
      }
    })
  })

export const makeCallBudget = (
  task: TaskInfo["Service"],
  budgets: Option.Option<BudgetStore["Service"]>,
  tasks: TaskStore["Service"]
): CallBudget => {
  if (Option.isNone(budgets)) return noBudget
  const store = budgets.value
  let owners: ReadonlyArray<string> | undefined | null = null

  /** The ids of the task and its ancestors when any of them has a budget; undefined when none has. */
  const ownersOf = Effect.gen(function* () {
    if (owners !== null) return owners
    const chain = [task.id]
    let budgeted = task.budget !== undefined
    let parentId = task.parentId
    while (parentId !== undefined) {
      chain.push(parentId)
      if (!budgeted && Option.isSome(yield* store.read(parentId))) budgeted = true
      const parent = yield* tasks.get(parentId)
      parentId = Option.isSome(parent) ? parent.value.parentId : undefined
    }
    owners = budgeted ? chain : undefined
    return owners
  })

  return {
    reserve: (key, method) =>
      Effect.flatMap(ownersOf, (ownerIds) =>
        ownerIds === undefined
          ? Effect.void
          : Effect.flatMap(
              store.reserve({ taskId: task.id, key, ownerIds, calls: 1, tokens: 0, costNanos: 0 }),
              (reached) => (Option.isSome(reached) ? Effect.fail(refused(method, reached.value)) : Effect.void)
            )
      ),
    settle: (key, usage) =>
      Effect.flatMap(ownersOf, (ownerIds) =>
        ownerIds === undefined
          ? Effect.void
          : store.settle(task.id, key, {
              calls: 1,
              tokens: (usage?.inputTokens ?? 0) + (usage?.outputTokens ?? 0),
              costNanos: usage?.costNanos ?? 0
            })
      )
  }
}
