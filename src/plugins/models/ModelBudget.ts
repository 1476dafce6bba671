/**
 * Usage budgets of model calls. A task given `budget` (calls, tokens, cost) in its definition owns a ledger in the
 * `BudgetStore`, opened before its body runs; every model call of it or of any descendant reserves against each
 * budget of its chain before it is made, in one atomic store step, and settles with its real usage once recorded.
 * A call that any budget refuses is not made: it fails with Effect AI's own `AiError`, reason
 * `QuotaExhaustedError`, whose metadata names the budget (`reachedOf` reads it), so a task's `retry` and the
 * body's own handling see it as a provider's quota. Tokens and cost are known only once a call has answered, so a
 * budget of those is passed, at most, by what the calls in flight used when it was reached; after that no call
 * starts. A failed call counts as a call.
 */
import { Option } from "effect"
import { AiError } from "effect/ai"
import type { BudgetReached } from "../../stores/BudgetStore.ts"

/** The metadata key under which a refused call's `QuotaExhaustedError` names the budget reached. */
export const budgetMetadataKey = "waypoint"

/** The budget a call was refused by, when `error` is such a refusal (cost in nano-dollars). */
export const reachedOf = (error: unknown): Option.Option<BudgetReached> => {
  if (!AiError.isAiError(error) || error.reason._tag !== "QuotaExhaustedError") return Option.none()
  const found = error.reason.metadata[budgetMetadataKey] as Record<string, unknown> | null | undefined
  if (found === null || found === undefined || typeof found.budget !== "string") return Option.none()
  return Option.some({
    ownerId: found.budget,
    dimension: found.dimension as BudgetReached["dimension"],
    limit: Number(found.limit),
    used: Number(found.used)
  })
}
