export type {
  BudgetAmounts,
  BudgetHold,
  BudgetLimits,
  BudgetReached,
  BudgetState
} from "./BudgetStore.ts"
export { BudgetStore } from "./BudgetStore.ts"
export {
  CancelRequested,
  InvalidCursor,
  LeaseLost,
  PauseRequested,
  StoreClosed,
  StoreError,
  TaskIdTaken
} from "./errors.ts"
export * as FileStorageBackend from "./file/FileStorageBackend.ts"
export * as MemoryBudgetStore from "./memory/MemoryBudgetStore.ts"
export * as MemoryProgressStore from "./memory/MemoryProgressStore.ts"
export * as MemoryRateLimitStore from "./memory/MemoryRateLimitStore.ts"
export * as MemoryRunTreeStore from "./memory/MemoryRunTreeStore.ts"
export * as MemorySnapshotStore from "./memory/MemorySnapshotStore.ts"
export * as MemoryStateStore from "./memory/MemoryStateStore.ts"
export * as MemoryStepStore from "./memory/MemoryStepStore.ts"
export * as MemoryStorageBackend from "./memory/MemoryStorageBackend.ts"
export * as MemoryStore from "./memory/MemoryStore.ts"
export * as MemoryTaskStore from "./memory/MemoryTaskStore.ts"
export type { AppendOptions, LatestUpdate, LogQuery, NewLogEntry } from "./ProgressStore.ts"
export { LogEntry, ProgressLatest, ProgressStore } from "./ProgressStore.ts"
export type { KeyLimits, KeyState, PermitAnswer } from "./RateLimitStore.ts"
export { RateLimitStore } from "./RateLimitStore.ts"
export type { TreeRow } from "./RunTreeStore.ts"
export { maxTreeDepth, RunTreeStore } from "./RunTreeStore.ts"
export type {
  ForkResult,
  NewSnapshot,
  SnapshotPruneOptions,
  SnapshotQuery,
  SnapshotRecordPage,
  SnapshotSummaryPage,
  StoredSnapshot
} from "./SnapshotStore.ts"
export {
  canonicalJson,
  SnapshotCorrupted,
  SnapshotOrigin,
  SnapshotRecord,
  SnapshotStore,
  SnapshotSummary,
  snapshotChecksum,
  verifySnapshot
} from "./SnapshotStore.ts"
export type { StateEntry, StateWrite } from "./StateStore.ts"
export { StateStore } from "./StateStore.ts"
export { StepStore } from "./StepStore.ts"
export { InvalidKey, keyProblem, maxKeyLength, StorageBackend, segmentProblem, validateKey } from "./StorageBackend.ts"
export {
  ChildWaitMode,
  ForkOrigin,
  isTerminal,
  StoredError,
  SuspendReason,
  TaskRecord,
  TaskStatus,
  TaskSummary,
  TaskTrace
} from "./TaskRecord.ts"
export type { Lease, NewTask, RunnableQuery, TaskPage, TaskQuery, TaskSummaryPage, Transition } from "./TaskStore.ts"
export { TaskStore } from "./TaskStore.ts"
