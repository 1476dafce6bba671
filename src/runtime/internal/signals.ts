/**
 * Sending a signal: checked against the task's declared signals and their Schemas, stored in the task's durable
 * mailbox (the `StepStore`), and waking the task only when it is suspended waiting for that very signal.
 */
import { Effect, Option, Schema } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import type { StepStore } from "../../stores/StepStore.ts"
import { unstorable } from "../../stores/storable.ts"
import { isTerminal } from "../../stores/TaskRecord.ts"
import { SignalRejected, StoreMissing, type TaskNotFound } from "../errors.ts"
import type { Control } from "./control.ts"
import type { Core } from "./core.ts"
import type { AnyTask, Registry } from "./registry.ts"

const JsonPayload = Schema.toCodecJson(Schema.Json)

export type SendSignal = (
  id: string,
  name: string,
  payload: unknown
) => Effect.Effect<void, SignalRejected | StoreMissing | TaskNotFound | StoreError>

export const makeSendSignal = (
  core: Core,
  registry: Registry,
  steps: Option.Option<StepStore["Service"]>,
  control: Control,
  /** Drives a task here that nothing here drives (a child whose driver let go of it when it suspended). */
  drive: (task: AnyTask, id: string) => Effect.Effect<unknown>
): SendSignal =>
  Effect.fnUntraced(function* (id: string, name: string, payload: unknown) {
    const record = yield* core.readRecord(id)
    const rejected = (cause: SignalRejected["cause"], reason: string) =>
      new SignalRejected({ taskId: id, signal: name, cause, reason })
    if (isTerminal(record.status)) return yield* rejected("TaskEnded", `the task has ended (${record.status})`)
    const declared = registry.get(record.name)?.signals ?? {}
    const names = Object.keys(declared)
    // Names under `waypoint:` are the toolkit's own (a tool approval's decision, say), sent whatever the task declares.
    if (names.length > 0 && !Object.hasOwn(declared, name) && !name.startsWith("waypoint:")) {
      return yield* rejected("UnknownSignal", `the task declares only ${names.map((n) => `"${n}"`).join(", ")}`)
    }
    const schema = declared[name] ?? JsonPayload
    const encoded = yield* Effect.mapError(Schema.encodeUnknownEffect(schema)(payload), (error) =>
      rejected("InvalidPayload", error.message)
    )
    const issue = unstorable(encoded)
    if (issue !== undefined) return yield* rejected("InvalidPayload", issue)
    if (Option.isNone(steps)) return yield* new StoreMissing({ store: "StepStore", operation: "signal" })
    yield* steps.value.sendSignal(id, name, encoded as Schema.Json)
    // Only a task suspended waiting for this very signal is woken: any other would run its body again for nothing.
    // Read after the signal is stored: a task that suspends later finds it in its mailbox (the state plugin's
    // `onSuspend` hook looks), so between the two no wake-up is lost.
    const now = yield* core.readRecord(id)
    if (now.status === "suspended" && now.suspendReason?._tag === "WaitingForSignal") {
      if (now.suspendReason.signal !== name) return
      yield* core.store.wake(id)
      yield* control.wake(id)
      // A child is driven by the runtime of its tree, not by a worker: the one that woke it drives it, if it can.
      const task = now.parentId === undefined ? undefined : registry.get(now.name)
      if (task !== undefined && core.live.get(id) === undefined) yield* drive(task, id)
    }
  })
