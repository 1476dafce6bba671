/**
 * A run tree's branch snapshot, named checkpoints of the tree kept by a `StateManager`, and forks from them. A
 * checkpoint holds the tree as it was read, its `BranchSnapshot` (MARSYS's shape, with its checksum) and what its
 * unfinished tasks had recorded; each run's checkpoints live under a session of their own, `run-<rootId>`, so they list
 * per run. Restoring one reads it back whole: a record damaged in storage fails with `SnapshotCorrupted`, never returns
 * as data.
 */
import { Effect, Layer, Option, Schema } from "effect"
import type { TaskNotFound } from "../../runtime/errors.ts"
import { orderedId } from "../../runtime/internal/ids.ts"
import { type Plugin, plugin } from "../../runtime/Plugin.ts"
import * as RunTree from "../../runtime/RunTree.ts"
import type { LeaseLost, StoreError, TaskIdTaken } from "../../stores/errors.ts"
import type { RunTreeStore } from "../../stores/RunTreeStore.ts"
import { SnapshotStore } from "../../stores/SnapshotStore.ts"
import { StateStore, taskScopeId } from "../../stores/StateStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import type { InvalidKey } from "../../stores/StorageBackend.ts"
import { isTerminal } from "../../stores/TaskRecord.ts"
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
    if (isTerminal(node.status)) {
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

/** What an unfinished task had recorded: its step results and its own state (`TaskState`), by key. */
const BranchState = Schema.Struct({
  steps: Schema.Record(Schema.String, Schema.Json),
  state: Schema.Record(Schema.String, Schema.Json)
})

/**
 * What a tree checkpoint holds: the tree as read, its branch snapshot with its checksum, and, for each task that had
 * not ended, what it had recorded (read right after the tree), by task id.
 */
export const TreeCheckpoint = Schema.Struct({
  kind: Schema.Literal("run-tree"),
  tree: RunTree.RunTree,
  branches: BranchSnapshot,
  recorded: Schema.Record(Schema.String, BranchState)
})
export type TreeCheckpoint = typeof TreeCheckpoint.Type

/** What each task of `tree` that had not ended had recorded, from the stores in context (none without them). */
const recordedOf = (tree: RunTree.RunTree) =>
  Effect.gen(function* () {
    const steps = yield* Effect.serviceOption(StepStore)
    const states = yield* Effect.serviceOption(StateStore)
    const recorded: Record<string, typeof BranchState.Type> = {}
    for (const node of tree.nodes) {
      if (isTerminal(node.status)) continue
      const stepResults = Option.isSome(steps) ? yield* steps.value.listSteps(node.id) : new Map()
      const entries = Option.isSome(states) ? yield* states.value.getAll(taskScopeId(node.id)) : new Map()
      if (stepResults.size === 0 && entries.size === 0) continue
      recorded[node.id] = {
        steps: Object.fromEntries(stepResults),
        state: Object.fromEntries([...entries].map(([key, entry]) => [key, entry.value]))
      }
    }
    return recorded
  })

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
    const record: TreeCheckpoint = { kind: "run-tree", tree, branches, recorded: yield* recordedOf(tree) }
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

/** Writes `kept` (step results and state) as the task `id`'s own, with the stores in context. */
const copyRecorded = (id: string, kept: typeof BranchState.Type) =>
  Effect.gen(function* () {
    const steps = yield* Effect.serviceOption(StepStore)
    const states = yield* Effect.serviceOption(StateStore)
    if (Option.isSome(steps)) {
      for (const [key, value] of Object.entries(kept.steps)) yield* steps.value.putStep(id, key, value)
    }
    const entries = Object.entries(kept.state)
    if (Option.isSome(states) && entries.length > 0) {
      yield* states.value.put(taskScopeId(id), new Map(entries.map(([key, value]) => [key, { value }])))
    }
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
 * result and does not run again; any other runs again from what it had at the checkpoint: its recorded steps (they
 * do not run again), its own state, and its newest snapshot (copied as its version 1); a replaced branch starts over
 * with its new input. Every task of the new tree records what it was forked from (`forkedFrom`). The new root is
 * created last, `pending`: a worker runs it, or `runtime.resume(id)`. A fork is many writes, not one transaction: one
 * cut short leaves tasks no root reaches.
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
    const { tree, recorded } = yield* restore(checkpointId)
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
      // what it had recorded at the checkpoint, under its new id before it exists: its steps do not run again
      const kept = replaced ? undefined : recorded[node.id]
      if (kept !== undefined) yield* copyRecorded(id, kept)
      yield* tasks.create(base)
    }
    return newIds.get(root.id) as string
  })

/** The root of the tree `task` is in. */
const rootOf = (task: { readonly id: string; readonly parentId?: string | undefined }) =>
  Effect.gen(function* () {
    const tasks = yield* TaskStore
    let id = task.id
    let parentId = task.parentId
    while (parentId !== undefined) {
      id = parentId
      parentId = Option.getOrUndefined(yield* tasks.get(parentId))?.parentId
    }
    return id
  })

/**
 * A plugin that keeps a checkpoint of the run at every join: each time a task of it begins to wait for its children,
 * the tree as it is once the wait is recorded, named `join-<taskId>` (a task that joins again adds another of the same
 * name; `list` orders them by time). One that cannot be written is logged, and the run goes on.
 */
export const atEveryJoin = (): Plugin<never, TaskStore | RunTreeStore | StateManager> =>
  plugin({
    name: "tree-checkpoints-at-every-join",
    layer: Layer.empty,
    hooks: {
      onSuspend: (task, reason) =>
        reason._tag !== "WaitingForChildren"
          ? Effect.void
          : Effect.flatMap(rootOf(task), (rootId) => checkpoint(rootId, `join-${task.id}`)).pipe(
              Effect.asVoid,
              Effect.catchCause((cause) => Effect.logWarning("could not keep a run tree checkpoint at a join", cause))
            )
    }
  })
