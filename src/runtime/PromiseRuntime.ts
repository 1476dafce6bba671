/**
 * A Promise facade over a runtime, for callers outside Effect: submit, await, cancel and close with plain
 * Promises. A failed task rejects with its typed error (an `Error` whose `_tag` says what happened).
 */
import { Cause, type Duration, Effect, Exit, Layer, Scope } from "effect"
import type { TaskStatus } from "../stores/TaskRecord.ts"
import type { TaskStore } from "../stores/TaskStore.ts"
import type { AnyPlugin, ExecutionServices, PluginProvides, PluginRequires } from "./Plugin.ts"
import { make as makeRuntime, type RuntimeOptions, type SubmitOptions } from "./Runtime.ts"
import type { Task } from "./Task.ts"

/** A handle on a submitted task, with Promises. */
export interface PromiseTaskHandle<O> {
  readonly id: string
  readonly status: () => Promise<TaskStatus>
  /** Resolves with the output; rejects with the task's error, or `ResultTimeout` after `timeout`. */
  readonly result: (timeout?: Duration.Input) => Promise<O>
  readonly cancel: () => Promise<void>
}

/** A runtime driven with Promises. */
export interface PromiseRuntime<P> {
  readonly id: string
  readonly submit: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SubmitOptions
  ) => Promise<PromiseTaskHandle<O>>
  readonly run: <I, O, E, R extends P | ExecutionServices>(
    task: Task<I, O, E, R>,
    input: NoInfer<I>,
    options?: SubmitOptions
  ) => Promise<O>
  readonly cancel: (id: string) => Promise<void>
  /** Interrupts running tasks (they stay resumable) and releases the stores. */
  readonly close: () => Promise<void>
}

const toPromise = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) =>
    Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause))
  )

/**
 * Builds a runtime over `layer` (the stores and whatever the plugins need).
 *
 * @example
 * ```ts
 * const runtime = await PromiseRuntime.make({ layer: MemoryTaskStore.layer })
 * const handle = await runtime.submit(greet, { name: "Ada" })
 * console.log(await handle.result("5 seconds"))
 * await runtime.close()
 * ```
 */
export const make = async <const Plugins extends ReadonlyArray<AnyPlugin> = readonly []>(
  options: RuntimeOptions<Plugins> & {
    readonly layer: Layer.Layer<TaskStore | Exclude<PluginRequires<Plugins[number]>, ExecutionServices>, unknown>
  }
): Promise<PromiseRuntime<PluginProvides<Plugins[number]>>> => {
  const scope = Scope.makeUnsafe()
  const runtime = await toPromise(
    Effect.gen(function* () {
      const context = yield* Layer.buildWithScope(options.layer, scope)
      return yield* makeRuntime(options).pipe(Effect.provideContext(context), Scope.provide(scope))
    })
  ).catch(async (error: unknown) => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  })
  return {
    id: runtime.id,
    submit: async (task, input, submitOptions) => {
      const handle = await toPromise(runtime.submit(task, input, submitOptions))
      return {
        id: handle.id,
        status: () => toPromise(handle.status),
        result: (timeout) => toPromise(timeout === undefined ? handle.await : handle.result(timeout)),
        cancel: () => toPromise(handle.cancel)
      }
    },
    run: (task, input, submitOptions) => toPromise(runtime.run(task, input, submitOptions)),
    cancel: (id) => toPromise(runtime.cancel(id)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
