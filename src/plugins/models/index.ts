/** Durable model calls on Effect AI: the plugin, the recorded-call wrapper and the usage ledger. */
export type { DurableModelOptions } from "./DurableModel.ts"
export { makeDurableModel } from "./DurableModel.ts"
export { ModelCallChanged, ModelRecordInvalid } from "./errors.ts"
export type { ModelCallsOptions } from "./ModelCalls.ts"
export * as ModelCalls from "./ModelCalls.ts"
export type { CallUsage, ModelPrice, PriceTable, TreeUsage, UsageTotals } from "./ModelUsage.ts"
export * as ModelUsage from "./ModelUsage.ts"
