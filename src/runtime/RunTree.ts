/**
 * A run as a tree: a root task (a supervisor) and every task under it (the agents it started, and theirs), read at
 * one instant of the store. Each task is named by its key path from the root (`supervisor/research/summary-3`): the
 * root's name, then each child's key, so the same agent has the same path in every run of the same plan
 * (`TreeCheckpoints` derives the tree's `BranchSnapshot` and keeps checkpoints of it).
 */
import { Effect, Option, Schema } from "effect"
import type { StoreError } from "../stores/errors.ts"
import type { ProgressLatest } from "../stores/ProgressStore.ts"
import { RunTreeStore, type TreeRow } from "../stores/RunTreeStore.ts"
import { ChildWaitMode, ForkOrigin, isTerminal, StoredError, SuspendReason, TaskStatus } from "../stores/TaskRecord.ts"
import { TaskNotFound } from "./errors.ts"

/** What a task waiting for its children still waits for. */
export const ChildrenWait = Schema.Struct({
  mode: ChildWaitMode,
  /** How many children the wait began with, and how many of them have not ended yet. */
  total: Schema.Number,
  remaining: Schema.Number,
  /** The ids of its children that have not ended. */
  running: Schema.Array(Schema.String)
})
export type ChildrenWait = typeof ChildrenWait.Type

/** One task of a run tree. */
export const RunTreeNode = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  /** Its key path from the root: the root's name, then each child's key (a child without one: `#` and its id). */
  path: Schema.String,
  /** Its key among its parent's children. */
  childKey: Schema.optionalKey(Schema.String),
  parentId: Schema.optionalKey(Schema.String),
  sessionId: Schema.optionalKey(Schema.String),
  /** 0 for the root. */
  depth: Schema.Number,
  status: TaskStatus,
  attempt: Schema.Number,
  /** Its input, as stored (encoded). */
  input: Schema.Json,
  /** In a tree forked from a checkpoint: the task it continues, and the checkpoint. */
  forkedFrom: Schema.optionalKey(ForkOrigin),
  progress: Schema.optionalKey(
    Schema.Struct({
      percent: Schema.optionalKey(Schema.Number),
      message: Schema.optionalKey(Schema.String),
      status: Schema.optionalKey(Schema.String),
      updatedAt: Schema.Number
    })
  ),
  /** Why it is suspended, when it is. */
  suspendReason: Schema.optionalKey(SuspendReason),
  /** Its wait for its children, when it waits for them. */
  waitingFor: Schema.optionalKey(ChildrenWait),
  output: Schema.optionalKey(Schema.Json),
  error: Schema.optionalKey(StoredError),
  /** The version of its newest snapshot, if it saved any. */
  snapshotVersion: Schema.optionalKey(Schema.Number),
  /** Its children's ids, in the order they were created. */
  children: Schema.Array(Schema.String),
  createdAt: Schema.Number,
  startedAt: Schema.optionalKey(Schema.Number),
  finishedAt: Schema.optionalKey(Schema.Number)
}).annotate({ identifier: "RunTreeNode" })
export type RunTreeNode = typeof RunTreeNode.Type

/** A root task and its descendants: the root first, each task after its parent, siblings in creation order. */
export const RunTree = Schema.Struct({
  rootId: Schema.String,
  nodes: Schema.Array(RunTreeNode)
}).annotate({ identifier: "RunTree", description: "A task and every task under it, read at one instant." })
export type RunTree = typeof RunTree.Type

// `/` separates the path's segments, so a key holding one (or the escape itself) is escaped.
const segment = (text: string) => text.replaceAll("%", "%25").replaceAll("/", "%2F")

const progressView = ({ taskId: _, ...fields }: ProgressLatest): NonNullable<RunTreeNode["progress"]> => fields

/** The tree of the rows a `RunTreeStore` read, in their order (each after its parent). */
export const fromRows = (rows: ReadonlyArray<TreeRow>): RunTree => {
  const root = rows[0]
  if (root === undefined) throw new Error("a run tree has at least its root")
  const childrenOf = new Map<string, Array<TreeRow>>()
  for (const row of rows.slice(1)) {
    const parentId = row.record.parentId as string
    const siblings = childrenOf.get(parentId)
    if (siblings === undefined) childrenOf.set(parentId, [row])
    else siblings.push(row)
  }
  const rootId = root.record.id
  const placed = new Map<string, { readonly path: string; readonly depth: number }>()
  const nodes = rows.map(({ record, progress, snapshotVersion }): RunTreeNode => {
    // each row comes after its parent's
    const parent = record.id === rootId ? undefined : placed.get(record.parentId as string)
    const at =
      parent === undefined
        ? { path: segment(record.name), depth: 0 }
        : {
            path: `${parent.path}/${record.childKey === undefined ? `#${record.id}` : segment(record.childKey)}`,
            depth: parent.depth + 1
          }
    placed.set(record.id, at)
    const children = childrenOf.get(record.id) ?? []
    const reason = record.suspendReason
    const waitingFor: ChildrenWait | undefined =
      record.status === "suspended" && reason?._tag === "WaitingForChildren"
        ? {
            mode: reason.mode,
            total: reason.total,
            remaining: reason.remaining,
            running: children.filter((child) => !isTerminal(child.record.status)).map((child) => child.record.id)
          }
        : undefined
    return {
      id: record.id,
      name: record.name,
      path: at.path,
      ...(record.childKey === undefined ? {} : { childKey: record.childKey }),
      ...(record.id === rootId || record.parentId === undefined ? {} : { parentId: record.parentId }),
      ...(record.sessionId === undefined ? {} : { sessionId: record.sessionId }),
      depth: at.depth,
      status: record.status,
      attempt: record.attempt,
      input: record.input,
      ...(record.forkedFrom === undefined ? {} : { forkedFrom: record.forkedFrom }),
      ...(progress === undefined ? {} : { progress: progressView(progress) }),
      ...(record.status === "suspended" && reason !== undefined ? { suspendReason: reason } : {}),
      ...(waitingFor === undefined ? {} : { waitingFor }),
      ...(record.output === undefined ? {} : { output: record.output }),
      ...(record.error === undefined ? {} : { error: record.error }),
      ...(snapshotVersion === undefined ? {} : { snapshotVersion }),
      children: children.map((child) => child.record.id),
      createdAt: record.createdAt,
      ...(record.startedAt === undefined ? {} : { startedAt: record.startedAt }),
      ...(record.finishedAt === undefined ? {} : { finishedAt: record.finishedAt })
    }
  })
  return { rootId, nodes }
}

/** The tree under `rootId` (the task and its descendants), read at one instant; `TaskNotFound` when no task has it. */
export const read = (rootId: string): Effect.Effect<RunTree, TaskNotFound | StoreError, RunTreeStore> =>
  Effect.flatMap(RunTreeStore, (trees) =>
    Effect.flatMap(trees.read(rootId), (rows) =>
      Option.isNone(rows) ? Effect.fail(new TaskNotFound({ taskId: rootId })) : Effect.succeed(fromRows(rows.value))
    )
  )
