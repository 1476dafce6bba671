/**
 * A task's body as one attempt runs it: its input decoded, its services provided (the runtime's context, its events,
 * the attempt's `TaskInfo` and `Children`, the plugins' layer), under the task's timeout. It fails with the body's own
 * error.
 */
import { Clock, Context, Duration, Effect, Exit, type Layer, Option, Tracer } from "effect"
import { Children } from "../Children.ts"
import { DeadlineExceeded, TaskTimeout } from "../errors.ts"
import { TaskEvents } from "../TaskEvents.ts"
import { TaskInfo } from "../TaskInfo.ts"
import { codecsOf } from "./codecs.ts"
import type { Core } from "./core.ts"
import type { AnyTask } from "./registry.ts"
import { withTaskSpans } from "./tracing.ts"

export type BodyRunner = (task: AnyTask, info: TaskInfo["Service"], input: unknown) => Effect.Effect<unknown, unknown>

export const makeBodyRunner = (
  core: Core,
  pluginLayer: Layer.Layer<never, never, unknown> | undefined,
  childrenOf: (info: TaskInfo["Service"]) => Children["Service"]
): BodyRunner => {
  // What every body sees: the runtime's context and its events; `TaskInfo` is added per attempt.
  const bodyContext = Context.add(core.context, TaskEvents, core.events)

  const withServices = (effect: Effect.Effect<unknown, unknown, unknown>, info: TaskInfo["Service"]) => {
    const withPlugins = pluginLayer === undefined ? effect : Effect.provide(effect, pluginLayer)
    const context = Context.add(Context.add(bodyContext, TaskInfo, info), Children, childrenOf(info))
    if (!core.isTracing) return Effect.provideContext(withPlugins, context) as Effect.Effect<unknown, unknown>
    // The attempt's span, the fiber's, wins over one the runtime's context may hold (the span it was built in).
    return Effect.withFiber((fiber) => {
      const span = Context.getOption(fiber.context, Tracer.ParentSpan)
      return Effect.provideContext(withPlugins, withTaskSpans(context, span, info)) as Effect.Effect<unknown, unknown>
    })
  }

  const timed = (task: AnyTask, info: TaskInfo["Service"], decoded: unknown) => {
    const body = withServices(task.body(decoded), info)
    if (Option.isNone(task.timeout)) return body
    const timeoutMillis = Duration.toMillis(task.timeout.value)
    return Effect.timeoutOrElse(body, {
      duration: task.timeout.value,
      orElse: () =>
        Effect.fail(new TaskTimeout({ taskId: info.id, taskName: info.name, attempt: info.attempt, timeoutMillis }))
    })
  }

  // A task past its deadline does not start its body (it was claimed late: after a crash, a wait, a queue); one that
  // starts is interrupted when the deadline comes.
  const run = (task: AnyTask, info: TaskInfo["Service"], decoded: unknown) => {
    const deadline = info.deadline
    if (deadline === undefined) return timed(task, info, decoded)
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const exceeded = Effect.fail(new DeadlineExceeded({ taskId: info.id, taskName: info.name, deadline }))
      return now >= deadline
        ? exceeded
        : Effect.timeoutOrElse(timed(task, info, decoded), { duration: deadline - now, orElse: () => exceeded })
    })
  }

  return (task, info, input) => {
    const decoded = codecsOf(task).decodeInput(input)
    // An input decoded at once (an `Exit`) goes straight to the body.
    if (!Exit.isExit(decoded)) return Effect.flatMap(decoded, (value) => run(task, info, value))
    return Exit.isSuccess(decoded) ? run(task, info, decoded.value) : decoded
  }
}
