/**
 * Run trees on PostgreSQL: one statement walks the tree down from its root (a recursive query over `parent_id`) and
 * joins each task's latest progress and newest snapshot version, so the whole tree is read from one snapshot of the
 * database. Depth first: each task's path of (created_at, id) from the root orders the rows.
 */

import { Effect, Layer, Option } from "effect"
import type { ProgressLatest } from "../ProgressStore.ts"
import { maxTreeDepth, RunTreeStore, type TreeRow } from "../RunTreeStore.ts"
import { Driver } from "./Driver.ts"
import { type SQL, sql } from "./internal/drizzle.ts"
import { returned, toRecord } from "./internal/task/rows.ts"
import { progressLatest, snapshots, tasks } from "./schema.ts"

// The task's columns as `TaskRecord` names them, then the extras this read adds.
const recordColumns = sql.join(
  Object.entries(returned).map(([name, column]) => sql`${column} as ${sql.identifier(name)}`),
  sql`, `
)

// A task's place among its siblings: created_at, padded so that text order is time order, then its id.
const step = (createdAt: SQL, id: SQL) => sql`(lpad(${createdAt}::text, 20, '0') || ' ' || ${id})`

const treeQuery = sql`
  with recursive tree (id, path, depth) as (
    select ${tasks.id}, array[${step(sql`${tasks.createdAt}`, sql`${tasks.id}`)}], 0
      from ${tasks} where ${tasks.id} = ${sql.placeholder("rootId")}
    union all
    select child.id, tree.path || ${step(sql`child.created_at`, sql`child.id`)}, tree.depth + 1
      from ${tasks} as child join tree on child.parent_id = tree.id
      where tree.depth < ${sql.raw(String(maxTreeDepth))}
  )
  select ${recordColumns},
    ${progressLatest.percent} as "progressPercent",
    ${progressLatest.message} as "progressMessage",
    ${progressLatest.status} as "progressStatus",
    ${progressLatest.updatedAt} as "progressUpdatedAt",
    (select max(${snapshots.version}) from ${snapshots} where ${snapshots.taskId} = ${tasks.id}) as "snapshotVersion"
  from tree
    join ${tasks} on ${tasks.id} = tree.id
    left join ${progressLatest} on ${progressLatest.taskId} = ${tasks.id}
  order by tree.path`

const progressOf = (taskId: string, row: Record<string, unknown>): ProgressLatest | undefined => {
  if (row.progressUpdatedAt === null || row.progressUpdatedAt === undefined) return undefined
  return {
    taskId,
    updatedAt: Number(row.progressUpdatedAt),
    ...(row.progressPercent === null ? {} : { percent: Number(row.progressPercent) }),
    ...(row.progressMessage === null ? {} : { message: String(row.progressMessage) }),
    ...(row.progressStatus === null ? {} : { status: String(row.progressStatus) })
  }
}

export const make = Effect.gen(function* () {
  const driver = yield* Driver
  const statement = driver.prepare("readTree", treeQuery)
  const decode = toRecord("readTree")

  const read = Effect.fn("PgRunTreeStore.read")(function* (rootId: string) {
    const rows = yield* statement({ rootId })
    if (rows.length === 0) return Option.none<ReadonlyArray<TreeRow>>()
    const tree = yield* Effect.forEach(rows, (row) => {
      const { progressPercent, progressMessage, progressStatus, progressUpdatedAt, snapshotVersion, ...columns } = row
      return Effect.map(
        decode(columns),
        (record): TreeRow => ({
          record,
          progress: progressOf(record.id, { progressPercent, progressMessage, progressStatus, progressUpdatedAt }),
          snapshotVersion:
            snapshotVersion === null || snapshotVersion === undefined ? undefined : Number(snapshotVersion)
        })
      )
    })
    return Option.some<ReadonlyArray<TreeRow>>(tree)
  })

  return RunTreeStore.of({ read })
})

export const layer: Layer.Layer<RunTreeStore, never, Driver> = Layer.effect(RunTreeStore, make)
