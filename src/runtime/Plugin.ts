/**
 * A plugin gives each task execution typed services (a Layer built per execution from its `TaskInfo`) and may
 * react to lifecycle hooks. The services a task may ask for are, in the types, the union of what the runtime's
 * plugins provide, plus `TaskInfo`.
 */
import type { Effect, Layer, Schema } from "effect"
import type { StoredError, SuspendReason, TaskStatus } from "../stores/TaskRecord.ts"
import type { Children } from "./Children.ts"
import type { TaskEvents } from "./TaskEvents.ts"
import type { TaskInfo } from "./TaskInfo.ts"

type Info = TaskInfo["Service"]

/** What the runtime itself gives every execution, besides what plugins provide. */
export type ExecutionServices = TaskInfo | TaskEvents | Children

/** Hooks run by the runtime around each execution; they cannot fail, and run with the plugin's requirements. */
export interface LifecycleHooks<R> {
  readonly onStart: (task: Info) => Effect.Effect<void, never, R>
  readonly onSuccess: (task: Info, output: Schema.Json) => Effect.Effect<void, never, R>
  readonly onFailure: (task: Info, error: StoredError) => Effect.Effect<void, never, R>
  /** Before a suspension is recorded: what is written here is in the store before another worker can resume. */
  readonly beforeSuspend: (task: Info, reason: SuspendReason) => Effect.Effect<void, never, R>
  /** After a suspension is recorded. */
  readonly onSuspend: (task: Info, reason: SuspendReason) => Effect.Effect<void, never, R>
  /** After the task reached a status it never leaves: completed, failed or cancelled. */
  readonly onFinish: (task: Info, status: TaskStatus) => Effect.Effect<void, never, R>
}

/** Provides `Provides` to every execution, built from `TaskInfo` and the runtime's `Requires`. */
export interface Plugin<Provides, Requires = never> {
  readonly name: string
  /** Built once per execution: keep it free of I/O, and keep registries in the plugin value itself. */
  readonly layer: Layer.Layer<Provides, never, ExecutionServices | Requires>
  readonly hooks?: Partial<LifecycleHooks<Requires>> | undefined
}

/** Any plugin, whatever it provides or requires. */
export type AnyPlugin = Plugin<never, unknown>

/** The services a plugin provides. */
export type PluginProvides<P> = P extends Plugin<infer A, infer _R> ? A : never

/** The services a plugin needs from the runtime's context. */
export type PluginRequires<P> = P extends Plugin<infer _A, infer R> ? R : never

/** Makes a plugin value (an identity that fixes the types). */
export const plugin = <Provides, Requires = never>(
  definition: Plugin<Provides, Requires>
): Plugin<Provides, Requires> => definition
