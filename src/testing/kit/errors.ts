/** What the test kit reports: a simulated crash, and a task that stopped moving while a test waited for it. */
import { Schema } from "effect"

/**
 * The cause of every `StoreError` a crashed runtime of the kit meets: the store refused it because its process is
 * "dead". Nothing such a runtime tries after its crash is written.
 */
export class SimulatedCrash extends Schema.TaggedError<SimulatedCrash>()("SimulatedCrash", {
  /** The crash point that fired (`step "charge"`), or `restart` for a crash asked by `restart` itself. */
  point: Schema.String
}) {
  override get message() {
    return `the runtime crashed (simulated, at ${this.point}): its writes are refused`
  }
}

/**
 * A task did not reach the state a test waited for (`runUntilSuspended`, `runUntilSettled`) and nothing moved it for
 * the kit's `stallTimeout` of real time: it most likely waits for time to pass (`advance`) or for a signal.
 */
export class TaskStalled extends Schema.TaggedError<TaskStalled>()("TaskStalled", {
  taskId: Schema.String,
  status: Schema.String,
  waitingFor: Schema.Literals(["suspended", "settled"])
}) {
  override get message() {
    return `task ${this.taskId} is still ${this.status}, not ${this.waitingFor}: does it wait for time to pass (advance) or for a signal?`
  }
}
