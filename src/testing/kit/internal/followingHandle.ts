/**
 * A task handle that follows its task across the test kit's restarts: each use asks the runtime of the current life,
 * so a handle taken before a crash awaits the task that the restarted runtime resumed. While the life that submitted
 * the task lasts, the submit's own handle answers: its waiter keeps the body's typed error after the task has ended.
 */
import { type Duration, Effect, Stream } from "effect"
import type { Runtime } from "../../../runtime/Runtime.ts"
import type { Task } from "../../../runtime/Task.ts"
import type { TaskHandle } from "../../../runtime/TaskHandle.ts"

export const followingHandle = <I, O, E, R, P>(
  task: Task<I, O, E, R>,
  id: string,
  runtime: () => Runtime<P>,
  submitted?: { readonly runtime: Runtime<P>; readonly handle: TaskHandle<O, E> }
): TaskHandle<O, E> => {
  const now = () => {
    const current = runtime()
    return submitted !== undefined && submitted.runtime === current ? submitted.handle : current.handle(task, id)
  }
  return {
    id,
    name: task.name,
    status: Effect.suspend(() => now().status),
    info: Effect.suspend(() => now().info),
    await: Effect.suspend(() => now().await),
    result: (timeout: Duration.Input) => Effect.suspend(() => now().result(timeout)),
    cancel: Effect.suspend(() => now().cancel),
    signal: (name, payload) => Effect.suspend(() => now().signal(name, payload)),
    events: Stream.suspend(() => now().events)
  }
}
