export type {
  AllOptions,
  AnyChild,
  Child,
  ChildHandle,
  ChildOptions,
  ChildOutcome,
  ChildSpec,
  FanOutOptions,
  OutputOf,
  RequirementsOf,
  StartError,
  WaitError
} from "./Children.ts"
export { Children } from "./Children.ts"
export type { TaskEndError } from "./errors.ts"
export {
  ChildCancelled,
  ChildConflict,
  ChildFailed,
  DeadlineExceeded,
  IdempotencyKeyReused,
  InvalidTaskInput,
  InvalidTaskOutput,
  InvalidTransition,
  MaxInstancesReached,
  ResultTimeout,
  SignalRejected,
  StoreMissing,
  TaskCancelled,
  TaskFailed,
  TaskInterrupted,
  TaskNotFound,
  TaskTimeout,
  UnknownTask
} from "./errors.ts"
export { Inspection, StuckReason } from "./Inspection.ts"
export type { AnyPlugin, ExecutionServices, LifecycleHooks, Plugin, PluginProvides, PluginRequires } from "./Plugin.ts"
export { plugin } from "./Plugin.ts"
export * as PromiseRuntime from "./PromiseRuntime.ts"
export * as RunTree from "./RunTree.ts"
export * as Runtime from "./Runtime.ts"
export type { Session, SessionSubmitOptions } from "./Session.ts"
export type { JsonOutput, OutputSchemaRequired, Task, TaskOptions, UsageBudget } from "./Task.ts"
export { task } from "./Task.ts"
export type {
  LogLevel,
  LogWritten,
  ModelCallRecorded,
  ModelTextDelta,
  ProgressReported,
  StatusChanged,
  StatusMessage,
  TaskEvent,
  TaskEventInput
} from "./TaskEvent.ts"
export type { SubscribeOptions } from "./TaskEvents.ts"
export { TaskEvents } from "./TaskEvents.ts"
export type { TaskError, TaskHandle } from "./TaskHandle.ts"
export { TaskInfo } from "./TaskInfo.ts"
