/**
 * Tool approvals that outlive the process. A model call answered with a tool call whose `needsApproval` says so
 * (Effect AI answers it with a `tool-approval-request` part) suspends the task on the signal
 * `waypoint:approval:<approvalId>`: no fiber and no slot while it waits. A decision sent from any process
 * (`runtime.signal`, `Approvals.decide`, or HTTP) wakes it; the call then goes on as Effect AI goes on after an
 * approval: the approved tool runs (a denied one answers `execution-denied`) and the model is asked again with the
 * results, as a recorded call of its own. What waits is read from the records: the requests in a task's recorded
 * calls with no decision recorded yet.
 */
import { Effect, Option, Schema } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import { RunTreeStore } from "../../stores/RunTreeStore.ts"
import { StepStore } from "../../stores/StepStore.ts"
import { isTerminal } from "../../stores/TaskRecord.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import { callKeyPrefix } from "./ModelUsage.ts"

/** The signal (and step key) of the decision on one approval request. */
export const approvalSignal = (approvalId: string): string => `${approvalSignalPrefix}${approvalId}`

/** Signals under this prefix are Waypoint's own: a task that declares its signals accepts them too. */
export const approvalSignalPrefix = "waypoint:approval:"

/** A decision on a tool call: approved, or denied with an optional reason the model is told. */
export const Decision = Schema.Struct({ approved: Schema.Boolean, reason: Schema.optional(Schema.String) })
export type Decision = typeof Decision.Type

/** A tool call that waits for a decision. */
export interface PendingApproval {
  readonly taskId: string
  readonly approvalId: string
  readonly toolCallId: string
  /** The tool's name and the parameters the model gave it. */
  readonly tool: string
  readonly params: unknown
  /** The number of the model call that asked for it, in its run of the body. */
  readonly call: number
}

const RecordedParts = Schema.Struct({ parts: Schema.Array(Schema.Unknown) })
const decodeParts = Schema.decodeUnknownOption(RecordedParts)

interface PartFields {
  readonly type?: unknown
  readonly approvalId?: unknown
  readonly toolCallId?: unknown
  readonly id?: unknown
  readonly name?: unknown
  readonly params?: unknown
}

/**
 * The approvals of a task that wait for a decision, in the order they were asked: none once the task has ended, and
 * not one whose decision was sent already (it waits in the task's mailbox for the task to take it).
 */
export const pending = (
  taskId: string
): Effect.Effect<ReadonlyArray<PendingApproval>, StoreError, StepStore | TaskStore> =>
  Effect.gen(function* () {
    const record = yield* (yield* TaskStore).get(taskId)
    if (Option.isNone(record) || isTerminal(record.value.status)) return []
    const stepStore = yield* StepStore
    const steps = yield* stepStore.listSteps(taskId)
    const found: Array<PendingApproval> = []
    for (const [key, value] of steps) {
      if (!key.startsWith(callKeyPrefix)) continue
      const recorded = decodeParts(value)
      if (Option.isNone(recorded)) continue
      const parts = recorded.value.parts as ReadonlyArray<PartFields>
      const call = Number.parseInt(key.slice(callKeyPrefix.length), 10)
      for (const part of parts) {
        if (part.type !== "tool-approval-request" || typeof part.approvalId !== "string") continue
        if (steps.has(approvalSignal(part.approvalId))) continue
        if ((yield* stepStore.pendingSignals(taskId, approvalSignal(part.approvalId))) > 0) continue
        const toolCall = parts.find((other) => other.type === "tool-call" && other.id === part.toolCallId)
        found.push({
          taskId,
          approvalId: part.approvalId,
          toolCallId: String(part.toolCallId),
          tool: typeof toolCall?.name === "string" ? toolCall.name : "unknown",
          params: toolCall?.params,
          call
        })
      }
    }
    return found.sort((a, b) => a.call - b.call)
  })

/** The approvals waiting anywhere in a run tree, tree order (each task after its parent). */
export const pendingInTree = (
  rootId: string
): Effect.Effect<ReadonlyArray<PendingApproval>, StoreError, StepStore | TaskStore | RunTreeStore> =>
  Effect.gen(function* () {
    const rows = yield* (yield* RunTreeStore).read(rootId)
    if (Option.isNone(rows)) return []
    const found: Array<PendingApproval> = []
    for (const row of rows.value) found.push(...(yield* pending(row.record.id)))
    return found
  })

/** Approves or denies one tool call of a task: its decision is kept in the task's mailbox and wakes the task. */
export const decide = <E>(
  runtime: { readonly signal: (id: string, name: string, payload: unknown) => Effect.Effect<void, E> },
  taskId: string,
  approvalId: string,
  decision: Decision
): Effect.Effect<void, E> => runtime.signal(taskId, approvalSignal(approvalId), decision)
