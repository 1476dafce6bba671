/**
 * A run tree's branch snapshot, and named checkpoints of the tree kept by a `StateManager`. A checkpoint holds the
 * tree as it was read and its `BranchSnapshot` (MARSYS's shape, with its checksum); each run's checkpoints live under a
 * session of their own, `run-<rootId>`, so they list per run. Restoring one reads it back whole: a record damaged in
 * storage fails with `SnapshotCorrupted`, never returns as data.
 */
import { Effect, Schema } from "effect"
import type { TaskNotFound } from "../../runtime/errors.ts"
import * as RunTree from "../../runtime/RunTree.ts"
import type { StoreError } from "../../stores/errors.ts"
import type { RunTreeStore } from "../../stores/RunTreeStore.ts"
import type { InvalidKey } from "../../stores/StorageBackend.ts"
import { BranchSnapshot, type BranchSnapshotInput, verifyChecksum } from "./BranchSnapshot.ts"
import type { CheckpointNotFound, SessionNotFound } from "./errors.ts"
import { SnapshotCorrupted } from "./errors.ts"
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
