/** Durable task state, remembered steps, pauses and signals. */
export type { StepOptions } from "./Durable.ts"
export { Durable, pause, step, waitForSignal } from "./Durable.ts"
export {
  DuplicateStep,
  NotInSession,
  SignalPayloadInvalid,
  SignalTimeout,
  StateConflict,
  StateDecodeError,
  StateInvalidValue,
  StateNotSerializable,
  StateTooLarge,
  StepResultInvalid
} from "./errors.ts"
export type { StatePluginOptions } from "./StatePlugin.ts"
export * as StatePlugin from "./StatePlugin.ts"
export type {
  JsonKind,
  OptionalScopeError,
  ScopeError,
  TaskStateLocks,
  TaskStateModifyError,
  TaskStateOptions,
  TaskStateScopeOptions,
  TaskStateView,
  TaskStateWriteError,
  TaskStateWriteOptions,
  TypedTaskState,
  TypedTaskStateServices
} from "./TaskState.ts"
export { clearTaskState, TaskState, taskScopeId } from "./TaskState.ts"
export type { VersionedReadError, VersionedState } from "./VersionedState.ts"
export { versionedState } from "./VersionedState.ts"
