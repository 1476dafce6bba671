/**
 * The `BudgetStore` on PostgreSQL (a server or PGlite). A reservation is one statement: it locks the budgets of its
 * owners (in id order, so two reservations never wait on each other in a cycle), checks each against the rule of
 * `reachedBy`, and, when none is reached, records the hold and adds it to every budget. A concurrent reservation of
 * the same budgets waits for the lock and then reads what this one wrote, so two cannot both take the last of one.
 */

import { Effect, Layer, Option } from "effect"
import {
  type BudgetAmounts,
  type BudgetHold,
  type BudgetLimits,
  type BudgetReached,
  type BudgetState,
  BudgetStore
} from "../BudgetStore.ts"
import { Driver } from "./Driver.ts"
import { type SQL, sql } from "./internal/drizzle.ts"
import { budgetHolds, budgets } from "./schema.ts"

const typed = (name: string, type: string): SQL => sql`${sql.placeholder(name)}::${sql.raw(type)}`

const openQuery = sql`
  insert into ${budgets} (owner_id, max_calls, max_tokens, max_cost_nanos)
  values (${typed("ownerId", "text")}, ${typed("calls", "bigint")}, ${typed("tokens", "bigint")},
    ${typed("costNanos", "bigint")})
  on conflict do nothing`

// The first budget reached, in the order of the owners given (the task's own first), as `reachedBy` decides.
const reserveQuery = sql`
  with listed as (
    select value as owner_id, ordinality as position
      from jsonb_array_elements_text(${typed("ownerIds", "jsonb")}) with ordinality
  ),
  owners as (
    select b.* from ${budgets} b where b.owner_id in (select owner_id from listed) order by b.owner_id for update
  ),
  held as (
    select 1 from ${budgetHolds} where task_id = ${typed("taskId", "text")} and key = ${typed("key", "text")}
  ),
  checked as (
    select o.owner_id, listed.position,
      case
        when o.max_calls is not null and o.calls + o.reserved_calls + ${typed("calls", "bigint")} > o.max_calls
          then 'calls'
        when o.max_tokens is not null and (o.tokens + o.reserved_tokens >= o.max_tokens
          or o.tokens + o.reserved_tokens + ${typed("tokens", "bigint")} > o.max_tokens) then 'tokens'
        when o.max_cost_nanos is not null and (o.cost_nanos + o.reserved_cost_nanos >= o.max_cost_nanos
          or o.cost_nanos + o.reserved_cost_nanos + ${typed("costNanos", "bigint")} > o.max_cost_nanos) then 'cost'
      end as dimension,
      o.max_calls, o.max_tokens, o.max_cost_nanos,
      o.calls + o.reserved_calls as used_calls,
      o.tokens + o.reserved_tokens as used_tokens,
      o.cost_nanos + o.reserved_cost_nanos as used_cost
    from owners o join listed on listed.owner_id = o.owner_id
  ),
  reached as (
    select * from checked where dimension is not null and not exists (select 1 from held) order by position limit 1
  ),
  inserted as (
    insert into ${budgetHolds} (task_id, key, owner_ids, calls, tokens, cost_nanos)
    select ${typed("taskId", "text")}, ${typed("key", "text")}, ${typed("ownerIds", "jsonb")},
      ${typed("calls", "bigint")}, ${typed("tokens", "bigint")}, ${typed("costNanos", "bigint")}
    where not exists (select 1 from reached) and not exists (select 1 from held)
    on conflict do nothing
    returning 1
  ),
  updated as (
    update ${budgets} b set
      reserved_calls = b.reserved_calls + ${typed("calls", "bigint")},
      reserved_tokens = b.reserved_tokens + ${typed("tokens", "bigint")},
      reserved_cost_nanos = b.reserved_cost_nanos + ${typed("costNanos", "bigint")}
    from owners o where b.owner_id = o.owner_id and exists (select 1 from inserted)
    returning 1
  )
  select owner_id as "ownerId", dimension,
    case dimension when 'calls' then max_calls when 'tokens' then max_tokens else max_cost_nanos end::text as "limit",
    case dimension when 'calls' then used_calls when 'tokens' then used_tokens else used_cost end::text as used,
    (select count(*) from updated)::int as updated
  from reached`

const settleQuery = sql`
  with hold as (
    delete from ${budgetHolds} where task_id = ${typed("taskId", "text")} and key = ${typed("key", "text")}
    returning owner_ids, calls, tokens, cost_nanos
  )
  update ${budgets} b set
    reserved_calls = b.reserved_calls - hold.calls,
    reserved_tokens = b.reserved_tokens - hold.tokens,
    reserved_cost_nanos = b.reserved_cost_nanos - hold.cost_nanos,
    calls = b.calls + ${typed("usedCalls", "bigint")},
    tokens = b.tokens + ${typed("usedTokens", "bigint")},
    cost_nanos = b.cost_nanos + ${typed("usedCostNanos", "bigint")}
  from hold where b.owner_id in (select jsonb_array_elements_text(hold.owner_ids))`

const releaseQuery = sql`
  with gone as (
    delete from ${budgetHolds} where task_id = ${typed("taskId", "text")}
    returning owner_ids, calls, tokens, cost_nanos
  ),
  per_owner as (
    select owner.value as owner_id, sum(gone.calls) as calls, sum(gone.tokens) as tokens,
      sum(gone.cost_nanos) as cost_nanos
    from gone, jsonb_array_elements_text(gone.owner_ids) as owner
    group by owner.value
  )
  update ${budgets} b set
    reserved_calls = b.reserved_calls - per_owner.calls,
    reserved_tokens = b.reserved_tokens - per_owner.tokens,
    reserved_cost_nanos = b.reserved_cost_nanos - per_owner.cost_nanos
  from per_owner where b.owner_id = per_owner.owner_id`

const readQuery = sql`
  select max_calls::text as "maxCalls", max_tokens::text as "maxTokens", max_cost_nanos::text as "maxCostNanos",
    calls::text as calls, tokens::text as tokens, cost_nanos::text as "costNanos",
    reserved_calls::text as "reservedCalls", reserved_tokens::text as "reservedTokens",
    reserved_cost_nanos::text as "reservedCostNanos"
  from ${budgets} where owner_id = ${typed("ownerId", "text")}`

const limit = (value: unknown): number | undefined =>
  value === null || value === undefined ? undefined : Number(value)

export const make = Effect.gen(function* () {
  const driver = yield* Driver
  const openStatement = driver.prepare("openBudget", openQuery)
  const reserveStatement = driver.prepare("reserveBudget", reserveQuery)
  const settleStatement = driver.prepare("settleBudget", settleQuery)
  const releaseStatement = driver.prepare("releaseBudget", releaseQuery)
  const readStatement = driver.prepare("readBudget", readQuery)

  const open = (ownerId: string, limits: BudgetLimits) =>
    Effect.asVoid(
      openStatement({
        ownerId,
        calls: limits.calls ?? null,
        tokens: limits.tokens ?? null,
        costNanos: limits.costNanos ?? null
      })
    )

  const reserve = (hold: BudgetHold) =>
    Effect.map(
      reserveStatement({
        taskId: hold.taskId,
        key: hold.key,
        ownerIds: JSON.stringify(hold.ownerIds),
        calls: hold.calls,
        tokens: hold.tokens,
        costNanos: hold.costNanos
      }),
      (rows): Option.Option<BudgetReached> => {
        const row = rows[0]
        if (row === undefined) return Option.none()
        return Option.some({
          ownerId: String(row.ownerId),
          dimension: row.dimension as BudgetReached["dimension"],
          limit: Number(row.limit),
          used: Number(row.used)
        })
      }
    )

  const settle = (taskId: string, key: string, used: BudgetAmounts) =>
    Effect.asVoid(
      settleStatement({
        taskId,
        key,
        usedCalls: used.calls,
        usedTokens: used.tokens,
        usedCostNanos: used.costNanos
      })
    )

  const release = (taskId: string) => Effect.asVoid(releaseStatement({ taskId }))

  const read = (ownerId: string) =>
    Effect.map(readStatement({ ownerId }), (rows): Option.Option<BudgetState> => {
      const row = rows[0]
      if (row === undefined) return Option.none()
      return Option.some({
        ownerId,
        limits: {
          ...(limit(row.maxCalls) === undefined ? {} : { calls: limit(row.maxCalls) }),
          ...(limit(row.maxTokens) === undefined ? {} : { tokens: limit(row.maxTokens) }),
          ...(limit(row.maxCostNanos) === undefined ? {} : { costNanos: limit(row.maxCostNanos) })
        },
        spent: { calls: Number(row.calls), tokens: Number(row.tokens), costNanos: Number(row.costNanos) },
        reserved: {
          calls: Number(row.reservedCalls),
          tokens: Number(row.reservedTokens),
          costNanos: Number(row.reservedCostNanos)
        }
      })
    })

  return BudgetStore.of({ open, reserve, settle, release, read })
})

export const layer: Layer.Layer<BudgetStore, never, Driver> = Layer.effect(BudgetStore, make)
