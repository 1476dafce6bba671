/**
 * A `BudgetStore` in this process's memory. Every operation is one synchronous step, so a reservation checks and
 * changes all its budgets with nothing in between.
 */
import { Effect, Layer, Option } from "effect"
import {
  type BudgetAmounts,
  type BudgetHold,
  type BudgetLimits,
  type BudgetReached,
  type BudgetState,
  BudgetStore,
  reachedBy,
  zeroAmounts
} from "../BudgetStore.ts"
import { closable } from "./closable.ts"

const add = (a: BudgetAmounts, b: BudgetAmounts, sign = 1): BudgetAmounts => ({
  calls: a.calls + sign * b.calls,
  tokens: a.tokens + sign * b.tokens,
  costNanos: a.costNanos + sign * b.costNanos
})

/** Builds an empty in-memory budget store. */
export const make = Effect.sync(() => {
  const budgets = new Map<string, BudgetState>()
  const holds = new Map<string, BudgetHold>()
  const holdKey = (taskId: string, key: string) => JSON.stringify([taskId, key])

  const open = (ownerId: string, limits: BudgetLimits) =>
    Effect.sync(() => {
      if (budgets.has(ownerId)) return
      const kept: { calls?: number; tokens?: number; costNanos?: number } = {}
      if (limits.calls !== undefined) kept.calls = limits.calls
      if (limits.tokens !== undefined) kept.tokens = limits.tokens
      if (limits.costNanos !== undefined) kept.costNanos = limits.costNanos
      budgets.set(ownerId, { ownerId, limits: kept, spent: zeroAmounts, reserved: zeroAmounts })
    })

  const reserve = (hold: BudgetHold) =>
    Effect.sync((): Option.Option<BudgetReached> => {
      if (holds.has(holdKey(hold.taskId, hold.key))) return Option.none()
      const owned = hold.ownerIds.flatMap((id) => {
        const state = budgets.get(id)
        return state === undefined ? [] : [state]
      })
      for (const state of owned) {
        const reached = reachedBy(state, hold)
        if (reached !== undefined) return Option.some(reached)
      }
      for (const state of owned) budgets.set(state.ownerId, { ...state, reserved: add(state.reserved, hold) })
      holds.set(holdKey(hold.taskId, hold.key), { ...hold, ownerIds: [...hold.ownerIds] })
      return Option.none()
    })

  const settle = (taskId: string, key: string, used: BudgetAmounts) =>
    Effect.sync(() => {
      const hold = holds.get(holdKey(taskId, key))
      if (hold === undefined) return
      holds.delete(holdKey(taskId, key))
      for (const id of hold.ownerIds) {
        const state = budgets.get(id)
        if (state === undefined) continue
        budgets.set(id, { ...state, reserved: add(state.reserved, hold, -1), spent: add(state.spent, used) })
      }
    })

  const release = (taskId: string) =>
    Effect.sync(() => {
      for (const hold of [...holds.values()]) {
        if (hold.taskId !== taskId) continue
        holds.delete(holdKey(hold.taskId, hold.key))
        for (const id of hold.ownerIds) {
          const state = budgets.get(id)
          if (state !== undefined) budgets.set(id, { ...state, reserved: add(state.reserved, hold, -1) })
        }
      }
    })

  const read = (ownerId: string) => Effect.sync(() => Option.fromUndefinedOr(budgets.get(ownerId)))

  return BudgetStore.of({ open, reserve, settle, release, read })
})

export const layer: Layer.Layer<BudgetStore> = Layer.effect(BudgetStore, Effect.flatMap(make, closable))
