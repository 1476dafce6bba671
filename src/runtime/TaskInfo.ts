/**
 * Who the running task is: id, name, attempt, session and parent. Every execution gets one, so a task body
 * and every plugin service can ask for it by type.
 */
import { Context, Effect, Layer } from "effect"
import type { UsageBudget } from "./Task.ts"

export class TaskInfo extends Context.Service<
  TaskInfo,
  {
    readonly id: string
    readonly name: string
    /** 1 for the first attempt; a retry adds one, a crash or a shutdown does not. */
    readonly attempt: number
    readonly sessionId: string | undefined
    readonly parentId: string | undefined
    /** The root task of its tree (its own id at the top); absent for a task stored before it was kept. */
    readonly rootId?: string | undefined
    /**
     * When the task fails with `DeadlineExceeded` if it has not ended (epoch milliseconds), if it has a deadline: its
     * own, or its parent's. A body may use it to budget its work.
     */
    readonly deadline: number | undefined
    /** True once a cancel of this task was asked: a body that checks it can stop cleanly before it is interrupted. */
    readonly shouldStop: Effect.Effect<boolean>
    /** The attempt's fencing token: a store refuses this attempt's fenced writes once another attempt owns the task. */
    readonly fencingToken: number
    /**
     * True only on the first execution of the task's body ever: no earlier attempt, no run before a suspension and no
     * fork can have written its steps or state, so a plugin may skip reading or clearing them. False whenever unsure
     * (a store that cannot tell, a retry, a recovery, a run after a suspension, a forked task).
     */
    readonly firstRun: boolean
    /** The task's own usage budget (its definition's `budget`), if it has one. */
    readonly budget?: UsageBudget | undefined
  }
>()("waypoint/runtime/TaskInfo") {
  /** A fixed `TaskInfo` for testing plugin services outside a runtime. */
  static layerTest(info: Partial<TaskInfo["Service"]> & { readonly id: string }): Layer.Layer<TaskInfo> {
    return Layer.succeed(
      TaskInfo,
      TaskInfo.of({
        name: "test-task",
        attempt: 1,
        sessionId: undefined,
        parentId: undefined,
        deadline: undefined,
        shouldStop: Effect.succeed(false),
        fencingToken: 0,
        firstRun: false,
        ...info
      })
    )
  }
}
