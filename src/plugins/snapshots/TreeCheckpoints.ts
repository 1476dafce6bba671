/**
 * A run tree's branch snapshot, and named checkpoints of the tree kept by a `StateManager`. A checkpoint holds the
 * tree as it was read and its `BranchSnapshot` (MARSYS's shape, with its checksum); each run's checkpoints live under a
 * session of their own, `run-<rootId>`, so they list per run. Restoring one reads it back whole: a record damaged in
 * storage fails with `SnapshotCorrupted`, never returns as data.
 */
import { Effect, Schema } from "effect"
import type { TaskNotFound } from "../../runtime/errors.ts"
import { orderedId } from "../../runtime/internal/ids.ts"
import * as RunTree from "../../runtime/RunTree.ts"
import type { LeaseLost, StoreError, TaskIdTaken } from "../../stores/errors.ts"
import type { RunTreeStore } from "../../stores/RunTreeStore.ts"
import { SnapshotStore } from "../../stores/SnapshotStore.ts"
import type { InvalidKey } from "../../stores/StorageBackend.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import { BranchSnapshot, type BranchSnapshotInput, verifyChecksum } from "./BranchSnapshot.ts"
import { type CheckpointNotFound, ForkInvalid, type SessionNotFound, SnapshotCorrupted } from "./errors.ts"
import { type CheckpointInfo, type ReadError, StateManager, type WriteError } from "./StateManager.ts"

/** What `branchSnapshot` adds to a tree. */
export interface BranchSnapshotOptions {
  /** The session the snapshot is saved under; by default the root's session, or the root's id. */
  readonly sessionId?: string | undefined
  readonly metadata?: Record<string, Schema.Json> | undefined
}

/** A branch's outcome among the snapshot's results. */
const resultOf = (node: RunTree.RunTreeNode): Schema.Json =>
  node.status === "completed"
    ? { status: "completed", output: node.output ?? null }
    : node.status === "failed"
      ? { status: "failed", error: node.error === undefined ? null : { ...node.error } }
      : { status: node.status }

/**
 * The tree as a `BranchSnapshot`, keyed by key path: every branch with its state and newest snapshot version; running
 * or runnable branches active, ended ones completed with their results; suspended ones waiting, on the paths of the
 * children they still wait for (none for a signal, a timer or a pause); both maps of the tree.
 */
export const branchSnapshot = (tree: RunTree.RunTree, options: BranchSnapshotOptions = {}): BranchSnapshotInput => {
  const pathOf = new Map(tree.nodes.map((node) => [node.id, node.path]))
  const root = tree.nodes[0] as RunTree.RunTreeNode
  const branches: Record<string, Schema.Json> = {}
  const waiting: Record<string, ReadonlyArray<string>> = {}
  const results: Record<string, Schema.Json> = {}
  const children: Record<string, ReadonlyArray<string>> = {}
  const parents: Record<string, string> = {}
  const activeBranches: Array<string> = []
  const completedBranches: Array<string> = []
  for (const node of tree.nodes) {
    branches[node.path] = {
      id: node.id,
      name: node.name,
      status: node.status,
      attempt: node.attempt,
      ...(node.progress === undefined ? {} : { progress: { ...node.progress } }),
      ...(node.snapshotVersion === undefined ? {} : { snapshotVersion: node.snapshotVersion })
    }
    if (node.status === "pending" || node.status === "running") activeBranches.push(node.path)
    if (RunTree.isEnded(node.status)) {
      completedBranches.push(node.path)
      results[node.path] = resultOf(node)
    }
    if (node.status === "suspended") {
      waiting[node.path] = (node.waitingFor?.running ?? []).map((id) => pathOf.get(id) as string)
    }
    if (node.children.length > 0) children[node.path] = node.children.map((id) => pathOf.get(id) as string)
    if (node.parentId !== undefined) parents[node.path] = pathOf.get(node.parentId) as string
  }
  return {
    sessionId: options.sessionId ?? root.sessionId ?? root.id,
    branches,
    activeBranches,
    completedBranches,
    waiting,
    results,
    children,
    parents,
    metadata: { rootId: tree.rootId, rootName: root.name, ...options.metadata }
  }
}

/** What a tree checkpoint holds: the tree as read, and its branch snapshot with its checksum. */
export const TreeCheckpoint = Schema.Struct({
  kind: Schema.Literal("run-tree"),
  tree: RunTree.RunTree,
  branches: BranchSnapshot
})
export type TreeCheckpoint = typeof TreeCheckpoint.Type

/** The `StateManager` session that keeps the checkpoints of the run `rootId`. */
export const sessionOf = (rootId: string): string => `run-${rootId}`

/**
 * Reads the tree under `rootId` now and keeps it as the checkpoint `name` of its run; returns the checkpoint's id.
 * A live tree is read at one instant, as `RunTree.read` reads it.
 */
export const checkpoint = (
  rootId: string,
  name: string
): Effect.Effect<
  string,
  TaskNotFound | StoreError | InvalidKey | SessionNotFound | ReadError | WriteError,
  RunTreeStore | StateManager
> =>
  Effect.gen(function* () {
    const manager = yield* StateManager
    const tree = yield* RunTree.read(rootId)
    const session = sessionOf(rootId)
    const branches = yield* manager.saveBranchSnapshot(branchSnapshot(tree, { sessionId: session }))
    const record: TreeCheckpoint = { kind: "run-tree", tree, branches }
    yield* manager.saveSession(session, record)
    return yield* manager.createCheckpoint(session, name)
  })

/** The checkpoints of the run `rootId`, oldest first. */
export const list = (
  rootId: string
): Effect.Effect<ReadonlyArray<CheckpointInfo>, InvalidKey | StoreError, StateManager> =>
  Effect.flatMap(StateManager, (manager) => manager.listCheckpoints(sessionOf(rootId)))

/**
 * The tree a checkpoint kept, read back whole: its records' checksums and its branch snapshot's are checked, and a
 * checkpoint that is not a tree's fails with `SnapshotCorrupted` too.
 */
export const restore = (
  checkpointId: string
): Effect.Effect<TreeCheckpoint, InvalidKey | CheckpointNotFound | ReadError | WriteError, StateManager> =>
  Effect.gen(function* () {
    const manager = yield* StateManager
    const state = yield* manager.restoreCheckpoint(checkpointId)
    const record = yield* Effect.mapError(
      Schema.decodeUnknownEffect(TreeCheckpoint)(state),
      (error) => new SnapshotCorrupted({ key: checkpointId, reason: `it does not hold a run tree: ${error.message}` })
    )
    yield* verifyChecksum(checkpointId, record.branches)
    return record
  })

/** How to fork a tree from a checkpoint. */
export interface ForkOptions {
  /**
   * New inputs by key path, as stored (encoded JSON): each such branch runs again with it, from its start, without
   * what was under it; the branches above it run again too, and find it under its key.
   */
  readonly replace?: Readonly<Record<string, Schema.Json>> | undefined
}

/**
 * Starts a new tree from a checkpoint, and returns its root's id: a branch that had completed keeps its recorded
 * result and does not run again; any other starts again from its newest snapshot at the checkpoint (copied as its
 * version 1); a replaced branch starts with its new input. Every task of the new tree records what it was forked from
 * (`forkedFrom`). The new root is created last, `pending`: a worker runs it, or `runtime.resume(id)`.
 */
export const fork = (
  checkpointId: string,
  options: ForkOptions = {}
): Effect.Effect<
  string,
  ForkInvalid | InvalidKey | CheckpointNotFound | ReadError | WriteError | TaskIdTaken | LeaseLost,
  StateManager | TaskStore | SnapshotStore
> =>
  Effect.gen(function* () {
    const { tree } = yield* restore(checkpointId)
    const tasks = yield* TaskStore
    const snapshots = yield* SnapshotStore
    const replace = options.replace ?? {}
    const byPath = new Map(tree.nodes.map((node) => [node.path, node]))
    const byId = new Map(tree.nodes.map((node) => [node.id, node]))
    for (const path of Object.keys(replace)) {
      if (!byPath.has(path)) {
        return yield* new ForkInvalid({ checkpointId, reason: `"${path}" is not a branch of its tree` })
      }
    }
    const ancestorsOf = (node: RunTree.RunTreeNode): Array<RunTree.RunTreeNode> => {
      const parent = node.parentId === undefined ? undefined : byId.get(node.parentId)
      return parent === undefined ? [] : [parent, ...ancestorsOf(parent)]
    }
    // Runs again: what had not completed, a replaced branch, and every branch above one.
    const runsAgain = new Set<string>()
    const dropped = new Set<string>()
    for (const node of tree.nodes) {
      const above = ancestorsOf(node)
      if (above.some((ancestor) => ancestor.path in replace)) dropped.add(node.id)
      else if (node.status !== "completed" || node.path in replace) {
        runsAgain.add(node.id)
        for (const ancestor of above) runsAgain.add(ancestor.id)
      }
    }
    const newIds = new Map(tree.nodes.map((node) => [node.id, orderedId()]))
    const lease = { owner: `fork:${checkpointId}`, expiresAt: Number.MAX_SAFE_INTEGER }
    const root = tree.nodes[0] as RunTree.RunTreeNode
    // the root last: once it exists it may run, and finds every branch below it
    for (const node of [...tree.nodes.slice(1), root]) {
      if (dropped.has(node.id)) continue
      // a finished branch under one that does not run again only completes the picture
      if (!runsAgain.has(node.id) && node.status !== "completed") continue
      const id = newIds.get(node.id) as string
      const replaced = node.path in replace
      const base = {
        id,
        name: node.name,
        input: replaced ? (replace[node.path] as Schema.Json) : node.input,
        sessionId: node.sessionId,
        parentId: node.parentId === undefined ? undefined : newIds.get(node.parentId),
        childKey: node.childKey,
        forkedFrom: { taskId: node.id, checkpointId, ...(replaced ? { inputReplaced: true } : {}) }
      }
      if (!runsAgain.has(node.id)) {
        const created = yield* tasks.create({ ...base, lease })
        yield* tasks.finish(id, created.fencingToken, { _tag: "Completed", output: node.output ?? null })
        continue
      }
      if (!replaced && node.snapshotVersion !== undefined) {
        yield* snapshots.fork({ taskId: node.id, version: node.snapshotVersion }, id)
      }
      yield* tasks.create(base)
    }
    return newIds.get(root.id) as string
  })
