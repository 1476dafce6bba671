/**
 * The spans of a task, made with Effect's tracer (exported by whatever `Tracer` the runtime was built with, such as
 * `OtlpTracer` from `effect/observability`). A task's trace context is kept on its record (`TaskRecord.trace`): each
 * attempt's span is a child of it, in whichever process the attempt runs, so an attempt after a crash continues the
 * same trace, and a child's context is a span of its parent's attempt, so a run tree is one trace.
 */
import { Context, Effect, Option, References, Tracer } from "effect"
import type { TaskRecord, TaskTrace } from "../../stores/TaskRecord.ts"
import type { TaskInfo } from "../TaskInfo.ts"

/** The names of the runtime's spans. */
export const SpanName = {
  create: "Task.create",
  attempt: "Task.attempt",
  claim: "Task.claim",
  leaseLost: "Task.leaseLost",
  recover: "Runtime.recover"
} as const

/** The attribute keys of the runtime's spans. */
export const Attribute = {
  taskId: "waypoint.task.id",
  taskName: "waypoint.task.name",
  attempt: "waypoint.task.attempt",
  session: "waypoint.task.session",
  root: "waypoint.task.root",
  parent: "waypoint.task.parent",
  status: "waypoint.task.status",
  /** On a claim: it takes over a task whose holder's lease expired (a crashed or frozen worker). */
  recovered: "waypoint.task.recovered",
  fencingToken: "waypoint.task.fencing_token",
  recoveredCount: "waypoint.runtime.recovered",
  children: "waypoint.children.count",
  joinMode: "waypoint.children.mode",
  waiting: "waypoint.children.waiting"
} as const

/** What the attributes of a task's spans are read from: a record or a running attempt's `TaskInfo`. */
interface Described {
  readonly id: string
  readonly name: string
  readonly attempt?: number | undefined
  readonly sessionId?: string | undefined
  readonly parentId?: string | undefined
  readonly rootId?: string | undefined
}

/** The attributes every span of a task carries (absent values are left out: OTLP has no `undefined`). */
export const taskAttributes = (task: Described): Record<string, unknown> => {
  const attributes: Record<string, unknown> = { [Attribute.taskId]: task.id, [Attribute.taskName]: task.name }
  if (task.attempt !== undefined) attributes[Attribute.attempt] = task.attempt
  if (task.sessionId !== undefined) attributes[Attribute.session] = task.sessionId
  if (task.rootId !== undefined) attributes[Attribute.root] = task.rootId
  if (task.parentId !== undefined) attributes[Attribute.parent] = task.parentId
  return attributes
}

/**
 * Whether spans of tasks are made with `context`: a tracer of the program's own is installed (Effect's default one
 * exports nothing) and tracing is on. Without, a task keeps no trace context and its attempts make no span: a span
 * changes its fiber's context, which costs about as much as a step does in memory.
 */
export const isTracing = <R>(context: Context.Context<R>): boolean =>
  Context.get(context as Context.Context<never>, Tracer.Tracer) !== Tracer.nativeTracer &&
  Context.get(context as Context.Context<never>, References.TracerEnabled)

/** The root task of a record's tree, as far as the record tells without a read. */
export const rootIdOf = (record: TaskRecord): string | undefined =>
  record.trace?.rootId ?? (record.parentId === undefined ? record.id : undefined)

/** The span a task's attempts and claims are children of, from its stored context (none for a record without). */
export const parentSpanOf = (trace: TaskTrace | undefined): Tracer.ExternalSpan | undefined =>
  trace === undefined ? undefined : Tracer.externalSpan({ traceId: trace.traceId, spanId: trace.spanId })

/**
 * The trace context of a task `span` creates: the span's own ids, unless tracing is off (a no-op span, whose ids are
 * not a trace's).
 */
export const traceOf = (span: Tracer.Span, rootId: string): TaskTrace | undefined =>
  span.traceId === "noop" ? undefined : { traceId: span.traceId, spanId: span.spanId, rootId }

/**
 * A body's context with the attempt's span as its parent (the body's context is the runtime's, so the fiber's span
 * would be lost) and the task's attributes on every span made in it: a step, a state write, a snapshot save, the
 * body's own.
 */
export const withTaskSpans = (
  context: Context.Context<unknown>,
  span: Option.Option<Tracer.AnySpan>,
  info: TaskInfo["Service"]
): Context.Context<unknown> => {
  if (Option.isNone(span)) return context
  const annotations = Context.get(context as Context.Context<never>, References.TracerSpanAnnotations)
  return Context.add(Context.add(context, Tracer.ParentSpan, span.value), References.TracerSpanAnnotations, {
    ...annotations,
    ...taskAttributes(info)
  })
}

/** A span of no duration, a child of `parent`, that says something happened to a task (a lease lost). */
export const markSpan = (
  name: string,
  parent: Tracer.AnySpan | undefined,
  attributes: Record<string, unknown>
): Effect.Effect<void> => Effect.withSpan(Effect.void, name, { parent, attributes })
