/**
 * What model calls used: each recorded call keeps its provider, model, tokens and cost (from the price table the
 * plugin was given) in its record, so a task's usage is the sum of its recorded calls and a run tree's the sum over
 * its tasks. Costs are kept in whole nano-dollars, so that sums are exact whatever their order.
 */
import { Effect, Option, Schema } from "effect"
import type { Response } from "effect/ai"
import type { StoreError } from "../../stores/errors.ts"
import { RunTreeStore } from "../../stores/RunTreeStore.ts"
import { StepStore } from "../../stores/StepStore.ts"

/** The price of a model, in dollars per million tokens. Cached input costs the input price unless given. */
export interface ModelPrice {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
  readonly cachedInputPerMillion?: number | undefined
}

/**
 * Prices by model id (as the provider reports it in its response, or the start of it: `gpt-4.1-mini` prices
 * `gpt-4.1-mini-2025-04-14`). A model not in it costs 0.
 */
export type PriceTable = Readonly<Record<string, ModelPrice>>

/** The usage of one model call, as recorded with it. */
export const CallUsage = Schema.Struct({
  provider: Schema.String,
  model: Schema.String,
  inputTokens: Schema.Int,
  outputTokens: Schema.Int,
  cachedTokens: Schema.Int,
  /** Dollars times 10^9, rounded. */
  costNanos: Schema.Int
})
export type CallUsage = typeof CallUsage.Type

/** The sum of many calls' usage. */
export const UsageTotals = Schema.Struct({
  calls: Schema.Int,
  inputTokens: Schema.Int,
  outputTokens: Schema.Int,
  cachedTokens: Schema.Int,
  costNanos: Schema.Int,
  /** `costNanos` in dollars. */
  cost: Schema.Number
})
export type UsageTotals = typeof UsageTotals.Type

/** A run tree's usage: its total and each task's (tasks with no recorded call are left out). */
export interface TreeUsage {
  readonly rootId: string
  readonly total: UsageTotals
  readonly byTask: ReadonlyMap<string, UsageTotals>
}

export const emptyTotals: UsageTotals = {
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  cachedTokens: 0,
  costNanos: 0,
  cost: 0
}

/** The step keys model calls are recorded under start with this. */
export const callKeyPrefix = "model:"

/**
 * The price of `model`: its own entry, or else that of the longest entry its id starts with (providers report dated
 * ids, such as `gpt-4.1-mini-2025-04-14` for `gpt-4.1-mini`).
 */
const priceOf = (prices: PriceTable | undefined, model: string): ModelPrice | undefined => {
  if (prices === undefined) return undefined
  const own = prices[model]
  if (own !== undefined) return own
  let found: string | undefined
  for (const id of Object.keys(prices))
    if (model.startsWith(id) && (found === undefined || id.length > found.length)) found = id
  return found === undefined ? undefined : prices[found]
}

/** The usage of a call from the usage its response reports, priced from `prices`. */
export const callUsage = (
  usage: Response.Usage,
  provider: string,
  model: string,
  prices: PriceTable | undefined
): CallUsage => {
  const inputTokens = usage.inputTokens.total ?? (usage.inputTokens.uncached ?? 0) + (usage.inputTokens.cacheRead ?? 0)
  const cachedTokens = usage.inputTokens.cacheRead ?? 0
  const outputTokens = usage.outputTokens.total ?? 0
  const price = priceOf(prices, model)
  const costNanos =
    price === undefined
      ? 0
      : Math.round(
          (inputTokens - cachedTokens) * price.inputPerMillion * 1000 +
            cachedTokens * (price.cachedInputPerMillion ?? price.inputPerMillion) * 1000 +
            outputTokens * price.outputPerMillion * 1000
        )
  return { provider, model, inputTokens, outputTokens, cachedTokens, costNanos }
}

/** Adds one call's usage to totals. */
export const addCall = (totals: UsageTotals, call: CallUsage): UsageTotals => {
  const costNanos = totals.costNanos + call.costNanos
  return {
    calls: totals.calls + 1,
    inputTokens: totals.inputTokens + call.inputTokens,
    outputTokens: totals.outputTokens + call.outputTokens,
    cachedTokens: totals.cachedTokens + call.cachedTokens,
    costNanos,
    cost: costNanos / 1e9
  }
}

/** Adds two totals. */
export const addTotals = (a: UsageTotals, b: UsageTotals): UsageTotals => {
  const costNanos = a.costNanos + b.costNanos
  return {
    calls: a.calls + b.calls,
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cachedTokens: a.cachedTokens + b.cachedTokens,
    costNanos,
    cost: costNanos / 1e9
  }
}

const RecordedUsage = Schema.Struct({ usage: CallUsage })
const decodeRecordedUsage = Schema.decodeUnknownOption(RecordedUsage)

/** The usage of every model call recorded for a task, in any run of it. */
export const ofTask = (taskId: string): Effect.Effect<UsageTotals, StoreError, StepStore> =>
  Effect.gen(function* () {
    const steps = yield* StepStore
    let totals = emptyTotals
    for (const [key, value] of yield* steps.listSteps(taskId)) {
      if (!key.startsWith(callKeyPrefix)) continue
      const recorded = decodeRecordedUsage(value)
      if (Option.isSome(recorded)) totals = addCall(totals, recorded.value.usage)
    }
    return totals
  })

/** The usage of a run tree: its root's and every descendant's recorded calls; `None` when there is no such task. */
export const ofTree = (rootId: string): Effect.Effect<Option.Option<TreeUsage>, StoreError, StepStore | RunTreeStore> =>
  Effect.gen(function* () {
    const rows = yield* (yield* RunTreeStore).read(rootId)
    if (Option.isNone(rows)) return Option.none()
    const byTask = new Map<string, UsageTotals>()
    let total = emptyTotals
    for (const row of rows.value) {
      const totals = yield* ofTask(row.record.id)
      if (totals.calls === 0) continue
      byTask.set(row.record.id, totals)
      total = addTotals(total, totals)
    }
    return Option.some({ rootId, total, byTask })
  })
