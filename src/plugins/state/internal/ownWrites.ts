/**
 * The executions that wrote to their task's own state scope. A task on its first run that wrote nothing there has no
 * state to clear when it ends (nothing earlier could have written it), which saves the store a delete per task.
 */
import { Effect } from "effect"
import type { TaskInfo } from "../../../runtime/TaskInfo.ts"

// Keyed by the execution's `TaskInfo`, which the runtime makes once per execution and hands to the finish hooks.
const wrote = new WeakSet<TaskInfo["Service"]>()

/** Notes, before the write is sent (a write whose reply is lost may still have landed), that `info` writes its state. */
export const markOwnWrite = (info: TaskInfo["Service"]): Effect.Effect<void> => Effect.sync(() => wrote.add(info))

/** Whether the task's own state may hold entries when this execution ends: always, but on a first run with no write. */
export const mayHoldState = (info: TaskInfo["Service"]): boolean => !info.firstRun || wrote.has(info)
