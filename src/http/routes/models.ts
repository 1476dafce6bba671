/**
 * What a task's model calls used, and the tool calls that wait for a decision: read from the records the
 * `ModelCalls` plugin keeps with each task (the `StepStore` in the app's context; a tree's through its
 * `RunTreeStore`). A decision is sent as the signal `waypoint:approval:<approvalId>` through the runtime, as any signal
 * is, so it is checked, kept in the task's mailbox and wakes the task.
 */
import { Context, Effect, Option, Schema } from "effect"
import { Approvals, ModelUsage } from "../../ai.ts"
import { isTerminal, RunTreeStore, type SignalRejected, StepStore, TaskNotFound, TaskStore } from "../../index.ts"
import { ApprovalNotFound, TaskEnded } from "../errors.ts"
import type { RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  noContent,
  notConfiguredDoc,
  problemDoc,
  type Route,
  type RouteContext,
  requireService,
  TaskPath,
  taskId,
  unauthorizedDoc
} from "../route.ts"
import {
  PendingApprovalListView,
  TreeUsageView,
  toPendingApprovalView,
  toTreeUsageView,
  toUsageTotalsView,
  UsageTotalsView
} from "../schema.ts"

const taskRequest = { path: TaskPath }

const ApprovalPath = Schema.Struct({
  ...TaskPath.fields,
  approvalId: Schema.String.annotateKey({ description: "The approval's id, as the task's pending approvals list it." })
})

const ApprovalDecision = Schema.Struct({
  approved: Schema.Boolean,
  /** Told to the model with a denial. */
  reason: Schema.optionalKey(Schema.String)
}).annotate({
  identifier: "ApprovalDecision",
  description: "Approve the tool call (it runs), or deny it (the model is told, with the reason if given)."
})

const decideRequest = { path: ApprovalPath, body: ApprovalDecision }

export const modelRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const { runtime } = ctx
  const stepStore = Context.getOption(ctx.services, StepStore)
  const stepsOf = requireService(stepStore, "StepStore")
  const treesOf = requireService(ctx.stores.trees, "RunTreeStore")

  const taskUsage = Effect.fn("http.getTaskUsage")(function* (input: RequestInput<typeof taskRequest>) {
    const steps = yield* stepsOf
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.get(id)
    const totals = yield* ModelUsage.ofTask(id).pipe(Effect.provideService(StepStore, steps))
    return json(toUsageTotalsView(totals))
  })

  const treeUsage = Effect.fn("http.getTreeUsage")(function* (input: RequestInput<typeof taskRequest>) {
    const steps = yield* stepsOf
    const trees = yield* treesOf
    const id = yield* taskId((yield* input.path).id)
    const usage = yield* ModelUsage.ofTree(id).pipe(
      Effect.provideService(StepStore, steps),
      Effect.provideService(RunTreeStore, trees)
    )
    if (Option.isNone(usage)) return yield* new TaskNotFound({ taskId: id })
    return json(toTreeUsageView(usage.value))
  })

  const approvals = Effect.fn("http.listApprovals")(function* (input: RequestInput<typeof taskRequest>) {
    const steps = yield* stepsOf
    const id = yield* taskId((yield* input.path).id)
    yield* runtime.get(id)
    const pending = yield* Approvals.pending(id).pipe(
      Effect.provideService(StepStore, steps),
      Effect.provideService(TaskStore, ctx.stores.tasks)
    )
    return json({ items: pending.map(toPendingApprovalView) })
  })

  const treeApprovals = Effect.fn("http.listTreeApprovals")(function* (input: RequestInput<typeof taskRequest>) {
    const steps = yield* stepsOf
    const trees = yield* treesOf
    const id = yield* taskId((yield* input.path).id)
    // `pendingInTree` answers an unknown root with no approvals: look it up first
    yield* runtime.get(id)
    const pending = yield* Approvals.pendingInTree(id).pipe(
      Effect.provideService(StepStore, steps),
      Effect.provideService(TaskStore, ctx.stores.tasks),
      Effect.provideService(RunTreeStore, trees)
    )
    return json({ items: pending.map(toPendingApprovalView) })
  })

  const decide = Effect.fn("http.decideApproval")(function* (input: RequestInput<typeof decideRequest>) {
    const steps = yield* stepsOf
    const path = yield* input.path
    const id = yield* taskId(path.id)
    const { approvalId } = path
    const decision = yield* input.body
    const record = yield* runtime.get(id)
    const signal = Approvals.approvalSignal(approvalId)
    // An ended task takes no decision, whatever it was asked: answered as the signal route answers a signal to it.
    const ended = (status: string) => new TaskEnded({ taskId: id, status, signal: signal.slice(0, 255) })
    if (isTerminal(record.status)) return yield* ended(record.status)
    const pending = yield* Approvals.pending(id).pipe(
      Effect.provideService(StepStore, steps),
      Effect.provideService(TaskStore, ctx.stores.tasks)
    )
    if (!pending.some((approval) => approval.approvalId === approvalId)) {
      return yield* new ApprovalNotFound({ taskId: id, approvalId: approvalId.slice(0, 255) })
    }
    yield* Approvals.decide(runtime, id, approvalId, decision).pipe(
      // The task ended since it was read: a conflict, as for any signal.
      Effect.catchTag("SignalRejected", (rejected) =>
        rejected.cause === "TaskEnded"
          ? Effect.flatMap(runtime.get(id), (now) => Effect.fail<TaskEnded | SignalRejected>(ended(now.status)))
          : Effect.fail<TaskEnded | SignalRejected>(rejected)
      )
    )
    return noContent(202)
  })

  const unauthorized = unauthorizedDoc(ctx)
  const noSteps = notConfiguredDoc(stepStore, "StepStore")
  const noTrees = notConfiguredDoc(ctx.stores.trees, "RunTreeStore")

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/usage",
      request: taskRequest,
      docs: [
        {
          path: "/tasks/{id}/usage",
          operationId: "getTaskUsage",
          summary: "Read what a task's recorded model calls used: calls, tokens and cost, over all its runs",
          tag: "models",
          responses: {
            200: { description: "The task's usage; zeros when it made no recorded call.", schema: UsageTotalsView },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...noSteps
          }
        }
      ],
      handle: taskUsage
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree/usage",
      request: taskRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/usage",
          operationId: "getTreeUsage",
          summary: "Read what the model calls of a task and every task under it used: the total, and each task's",
          tag: "models",
          responses: {
            200: { description: "The tree's usage.", schema: TreeUsageView },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...noSteps,
            ...noTrees
          }
        }
      ],
      handle: treeUsage
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/approvals",
      request: taskRequest,
      docs: [
        {
          path: "/tasks/{id}/approvals",
          operationId: "listApprovals",
          summary: "List a task's tool calls that wait for an approval, in the order they were asked",
          tag: "models",
          responses: {
            200: { description: "The pending approvals.", schema: PendingApprovalListView },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...noSteps
          }
        }
      ],
      handle: approvals
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/tasks/:id/tree/approvals",
      request: taskRequest,
      docs: [
        {
          path: "/tasks/{id}/tree/approvals",
          operationId: "listTreeApprovals",
          summary: "List the tool calls that wait for an approval in a task and every task under it",
          tag: "models",
          responses: {
            200: {
              description: "The pending approvals, tree order (each task after its parent), each with its task.",
              schema: PendingApprovalListView
            },
            ...unauthorized,
            404: problemDoc("No such task."),
            ...noSteps,
            ...noTrees
          }
        }
      ],
      handle: treeApprovals
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/tasks/:id/approvals/:approvalId",
      request: decideRequest,
      docs: [
        {
          path: "/tasks/{id}/approvals/{approvalId}",
          operationId: "decideApproval",
          summary: "Approve or deny a tool call a task waits on: the decision wakes the task, which goes on",
          tag: "models",
          responses: {
            202: { description: "Delivered to the task's mailbox." },
            400: problemDoc("A bad body, or a body that is not JSON."),
            ...unauthorized,
            404: problemDoc("No such task, or no tool call of it waits under this approval id."),
            409: problemDoc("The task has ended."),
            413: problemDoc("The body is larger than the limit."),
            415: problemDoc("The body is not application/json."),
            ...noSteps
          }
        }
      ],
      handle: decide
    })
  ]
}
