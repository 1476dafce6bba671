/**
 * Usage budgets of run trees: a task with a budget owns a ledger of what it and its descendants spent, and every
 * model call reserves against the ledgers of its task and each ancestor before it is made, all of them in one atomic
 * step, then settles with what it really used. A call is refused when any of those budgets is reached (its spend and
 * what calls in flight reserved): so a budget shared by many concurrent callers is passed, at most, by the calls in
 * flight when it was reached, and no call starts after.
 */
import { Context, type Effect, type Option } from "effect"
import type { StoreError } from "./errors.ts"

/** Amounts of a budget: model calls, tokens (input and output), cost in nano-dollars. */
export interface BudgetAmounts {
  readonly calls: number
  readonly tokens: number
  readonly costNanos: number
}

/** The limits of a budget; an absent one is not limited. */
export interface BudgetLimits {
  readonly calls?: number | undefined
  readonly tokens?: number | undefined
  readonly costNanos?: number | undefined
}

/** A budget's ledger. */
export interface BudgetState {
  readonly ownerId: string
  readonly limits: BudgetLimits
  readonly spent: BudgetAmounts
  /** What calls in flight reserved and have not settled yet. */
  readonly reserved: BudgetAmounts
}

/** What a call reserves, against every budget of `ownerIds` (its task's and its ancestors' ids). */
export interface BudgetHold extends BudgetAmounts {
  readonly taskId: string
  /** The call's key within its task: reserving the same key again reserves nothing more. */
  readonly key: string
  readonly ownerIds: ReadonlyArray<string>
}

/** Why a reservation was refused: the first budget found reached, and its spend (settled and reserved). */
export interface BudgetReached {
  readonly ownerId: string
  readonly dimension: "calls" | "tokens" | "cost"
  readonly limit: number
  readonly used: number
}

export const zeroAmounts: BudgetAmounts = { calls: 0, tokens: 0, costNanos: 0 }

/** The budget of `state` that `hold` may not pass, if any (the one rule every store applies). */
export const reachedBy = (state: BudgetState, hold: BudgetAmounts): BudgetReached | undefined => {
  const { limits, spent, reserved } = state
  const calls = spent.calls + reserved.calls
  if (limits.calls !== undefined && calls + hold.calls > limits.calls) {
    return { ownerId: state.ownerId, dimension: "calls", limit: limits.calls, used: calls }
  }
  const tokens = spent.tokens + reserved.tokens
  if (limits.tokens !== undefined && (tokens >= limits.tokens || tokens + hold.tokens > limits.tokens)) {
    return { ownerId: state.ownerId, dimension: "tokens", limit: limits.tokens, used: tokens }
  }
  const cost = spent.costNanos + reserved.costNanos
  if (limits.costNanos !== undefined && (cost >= limits.costNanos || cost + hold.costNanos > limits.costNanos)) {
    return { ownerId: state.ownerId, dimension: "cost", limit: limits.costNanos, used: cost }
  }
  return undefined
}

export class BudgetStore extends Context.Service<
  BudgetStore,
  {
    /** Gives `ownerId` a budget, unless it has one (the first one stays). */
    readonly open: (ownerId: string, limits: BudgetLimits) => Effect.Effect<void, StoreError>
    /**
     * Reserves `hold` against every budget of its owners that exists, atomically: all or none. `None` when reserved
     * (or reserved already under this key); the budget reached otherwise, and nothing is reserved.
     */
    readonly reserve: (hold: BudgetHold) => Effect.Effect<Option.Option<BudgetReached>, StoreError>
    /**
     * Ends the hold `key` of `taskId`: its reservation leaves its budgets and `used` is added to their spend. Does
     * nothing when there is no such hold (settled already).
     */
    readonly settle: (taskId: string, key: string, used: BudgetAmounts) => Effect.Effect<void, StoreError>
    /** Drops every hold of a task without spending it (the task ended with calls that never settled). */
    readonly release: (taskId: string) => Effect.Effect<void, StoreError>
    readonly read: (ownerId: string) => Effect.Effect<Option.Option<BudgetState>, StoreError>
  }
>()("waypoint/stores/BudgetStore") {}
