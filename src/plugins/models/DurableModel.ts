/**
 * A `LanguageModel` whose calls are durable inside a task. The n-th call of a run of the body is recorded under
 * `model:<n>` with a hash of its request and its response; a later run of the body (after a pause, a signal or a
 * crash) that makes the same request as the n-th call gets the recorded response without calling the model.
 *
 * The rule for a changed request (a run whose n-th call asks something else than what was recorded) is the
 * plugin's `onChangedRequest`: `"fail"` (the default) fails the task with `ModelCallChanged`, like a replay that
 * went another way; `"callAgain"` calls the model with the new request and records that answer beside the old one.
 *
 * A streamed call publishes each text delta as a `ModelTextDelta` event as it arrives and records only the final
 * parts, deltas joined; a crash in the middle of a stream makes that call again, and no other.
 */
import { Effect, Exit, Option, Predicate, Schema, Stream } from "effect"
import { AiError, LanguageModel, Prompt, Response, type Tool, Toolkit } from "effect/ai"
import { suspend } from "../../runtime/Suspension.ts" // X
import type { TaskEvents } from "../../runtime/TaskEvents.ts"
import type { TaskInfo } from "../../runtime/TaskInfo.ts"
import type { StoreError } from "../../stores/errors.ts"
import { canonicalJson, sha256Hex } from "../../stores/SnapshotStore.ts"
import type { StepStore } from "../../stores/StepStore.ts"
import { unstorable } from "../../stores/storable.ts"
import { approvalSignal, Decision } from "./Approvals.ts"
import { ModelCallChanged, ModelRecordInvalid } from "./errors.ts"
import { type CallBudget, noBudget } from "./internal/callBudget.ts"
import { type CallLimitsOptions, type CallPermit, unlimited } from "./internal/callPermit.ts"
import { recordedTools } from "./internal/recordedTools.ts"
import { CallUsage, callKeyPrefix, callUsage, type PriceTable } from "./ModelUsage.ts"

/** How model calls are made durable, and limited per key. */
export interface DurableModelOptions extends CallLimitsOptions {
  /** What a run does when its n-th call asks another request than the recorded one. Default `"fail"`. */
  readonly onChangedRequest?: "fail" | "callAgain" | undefined
  /** The provider's name in the usage ledger. Default `"default"`. */
  readonly provider?: string | undefined
  /** Prices by model id, for the cost of each call. */
  readonly prices?: PriceTable | undefined
}

type AnyToolkit = Toolkit.WithHandler<Record<string, Tool.Any>>
type Method = "generateText" | "generateObject" | "streamText"

/** The options of any of the three calls, as this module reads them. */
interface CallOptions {
  readonly prompt: Prompt.RawInput
  readonly toolkit?: AnyToolkit | Effect.Effect<AnyToolkit, unknown, unknown> | undefined
  readonly toolChoice?: unknown
  readonly objectName?: string | undefined
  readonly schema?: Schema.Top | undefined
}

const Recorded = Schema.Struct({
  method: Schema.String,
  request: Schema.String,
  parts: Schema.Array(Schema.Json),
  value: Schema.optional(Schema.Json),
  usage: CallUsage
})
type Recorded = typeof Recorded.Type

const encodePrompt = Schema.encodeUnknownEffect(Prompt.Prompt)

/** The JSON Schema of a structured output, as part of its request's hash (a schema none can express hashes alike). */
const jsonSchemaOf = (schema: Schema.Top): Schema.Json => {
  try {
    return Schema.toJsonSchemaDocument(schema) as unknown as Schema.Json
  } catch {
    return null
  }
}

const decodeDecision = Schema.decodeUnknownOption(Decision)

/** A store that failed under a call fails the call as Effect AI's calls fail, so a task's retry Schedule covers it. */
const storeFailure = (method: string) => (error: unknown) =>
  Predicate.isTagged(error, "StoreError")
    ? AiError.make({
        module: "ModelCalls",
        method,
        reason: new AiError.UnknownError({ description: `the task's store failed: ${(error as StoreError).message}` })
      })
    : error

type PartsCodec = Schema.Codec<ReadonlyArray<Response.Part<Record<string, Tool.Any>>>, ReadonlyArray<Schema.Json>>
type StreamPartsCodec = Schema.Codec<
  ReadonlyArray<Response.StreamPart<Record<string, Tool.Any>>>,
  ReadonlyArray<Schema.Json>
>

// A response's codecs, made once per toolkit (and once without): compiling one costs more than a call's write.
const noTools = {}
const partCodecs = new WeakMap<object, { parts?: PartsCodec; streamParts?: StreamPartsCodec }>()
const codecsOf = (toolkit: AnyToolkit | undefined) => {
  const owner = toolkit?.tools ?? noTools
  let codecs = partCodecs.get(owner)
  if (codecs === undefined) {
    codecs = {}
    partCodecs.set(owner, codecs)
  }
  return codecs
}
const partsCodec = (toolkit: AnyToolkit | undefined): PartsCodec => {
  const codecs = codecsOf(toolkit)
  codecs.parts ??= Schema.Array(Response.Part(toolkit ?? Toolkit.empty)) as unknown as PartsCodec
  return codecs.parts
}
const streamPartsCodec = (toolkit: AnyToolkit | undefined): StreamPartsCodec => {
  const codecs = codecsOf(toolkit)
  codecs.streamParts ??= Schema.Array(Response.StreamPart(toolkit ?? Toolkit.empty)) as unknown as StreamPartsCodec
  return codecs.streamParts
}

/** The services a durable model is made from: the task, its steps and its event log. */
export interface DurableModelContext {
  readonly task: TaskInfo["Service"]
  readonly steps: StepStore["Service"]
  readonly events: TaskEvents["Service"]
  /** The budgets its calls reserve against (none by default). */
  readonly budget?: CallBudget | undefined
  /** The per-key permits its calls take (none by default). */
  readonly permit?: CallPermit | undefined
}

/** Joins consecutive deltas of one text or reasoning block, so a stream is recorded as its final parts. */
const joinDeltas = (parts: ReadonlyArray<Response.StreamPart<Record<string, Tool.Any>>>) => {
  const joined: Array<Response.StreamPart<Record<string, Tool.Any>>> = []
  for (const part of parts) {
    const last = joined.at(-1)
    if (
      last !== undefined &&
      (part.type === "text-delta" || part.type === "reasoning-delta") &&
      last.type === part.type &&
      last.id === part.id
    ) {
      joined[joined.length - 1] = { ...last, delta: last.delta + part.delta }
    } else joined.push(part)
  }
  return joined
}

/** Wraps `inner` so that its calls are recorded for the task of `context` (one wrapper per execution). */
export const makeDurableModel = (
  inner: LanguageModel.LanguageModel,
  context: DurableModelContext,
  options: DurableModelOptions = {}
): LanguageModel.LanguageModel => {
  const { task, steps, events } = context
  const budget = context.budget ?? noBudget
  const permit = context.permit ?? unlimited
  let calls = 0

  const invalid = (key: string) => (error: { readonly message: string }) =>
    Effect.die(new ModelRecordInvalid({ taskId: task.id, key, issue: error.message }))

  const resolveToolkit = (toolkit: CallOptions["toolkit"]): Effect.Effect<AnyToolkit | undefined, unknown, unknown> =>
    toolkit === undefined ? Effect.succeed(undefined) : Effect.isEffect(toolkit) ? toolkit : Effect.succeed(toolkit)

  const fingerprint = (method: Method, call: CallOptions, toolkit: AnyToolkit | undefined) =>
    Effect.flatMap(Effect.orDie(encodePrompt(Prompt.make(call.prompt))), (prompt) =>
      sha256Hex(
        canonicalJson({
          method,
          prompt: prompt as unknown as Schema.Json,
          tools: toolkit === undefined ? [] : Object.keys(toolkit.tools).sort(),
          toolChoice: (call.toolChoice ?? null) as Schema.Json,
          object:
            call.schema === undefined ? null : { name: call.objectName ?? null, schema: jsonSchemaOf(call.schema) }
        })
      )
    )

  // The task's recorded calls, read once per run of the body at its first call: a new call then costs its write
  // alone, and a recorded one no round trip. Only this run's attempt writes the task's calls meanwhile, so on the
  // task's first run there is nothing to read.
  let recordedCalls: ReadonlyMap<string, Schema.Json> | undefined = task.firstRun ? new Map() : undefined
  const recordedCall = (key: string) =>
    recordedCalls !== undefined
      ? Effect.succeed(Option.fromUndefinedOr(recordedCalls.get(key)))
      : Effect.map(steps.listSteps(task.id), (all) => {
          recordedCalls = all
          return Option.fromUndefinedOr(all.get(key))
        })

  /** Where the n-th call is recorded, or is to be, and what is recorded there. */
  const locate = (n: number, method: Method, request: string) =>
    Effect.gen(function* () {
      const read = (key: string) =>
        Effect.flatMap(recordedCall(key), (found) =>
          Option.isNone(found)
            ? Effect.succeed(Option.none<Recorded>())
            : Effect.map(Effect.catch(Schema.decodeUnknownEffect(Recorded)(found.value), invalid(key)), (recorded) =>
                Option.some(recorded)
              )
        )
      const key = `${callKeyPrefix}${n}`
      const recorded = yield* read(key)
      if (Option.isNone(recorded) || recorded.value.request === request) return { key, recorded }
      if ((options.onChangedRequest ?? "fail") === "fail") {
        return yield* Effect.die(new ModelCallChanged({ taskId: task.id, call: n, method }))
      }
      const again = `${key}:${request.slice(0, 16)}`
      return { key: again, recorded: yield* read(again) }
    })

  /** Records a call's answer (fenced; the first write wins) and tells subscribers what it used. */
  const record = (n: number, key: string, recorded: Recorded) =>
    Effect.suspend(() => {
      // Encoded parts may hold `undefined` fields (unset usage counts): JSON drops them, as every store would.
      const value = JSON.parse(JSON.stringify(recorded)) as Schema.Json
      const unkept = unstorable(value)
      if (unkept !== undefined) return Effect.die(new ModelRecordInvalid({ taskId: task.id, key, issue: unkept }))
      return Effect.map(steps.checkpoint({ taskId: task.id, token: task.fencingToken, key, value }), (stored) =>
        // A store returns what it was given when this write won, and the first record otherwise.
        stored === value ? Option.none<Recorded>() : Option.some(stored as unknown as Recorded)
      )
    }).pipe(
      Effect.catchTag("LeaseLost", () => Effect.interrupt),
      Effect.tap(() =>
        events.publish({
          _tag: "ModelCallRecorded",
          taskId: task.id,
          taskName: task.name,
          call: n,
          method: recorded.method,
          usage: recorded.usage
        })
      )
    )

  const usageOf = (parts: ReadonlyArray<Response.AnyPart>) => {
    const finish = parts.find((part) => part.type === "finish")
    const metadata = parts.find((part) => part.type === "response-metadata")
    const usage = finish?.type === "finish" ? finish.usage : new LanguageModel.GenerateTextResponse([]).usage
    const model = metadata?.type === "response-metadata" ? (metadata.modelId ?? "unknown") : "unknown"
    return callUsage(usage, options.provider ?? "default", model, options.prices)
  }

  /** The decision on one approval: recorded already, or waiting in the mailbox; otherwise the task suspends for it. */
  const decisionOn = (approvalId: string) =>
    Effect.gen(function* () {
      const name = approvalSignal(approvalId)
      const received = yield* steps.receiveSignal(task.id, name, name)
      if (Option.isNone(received)) return yield* suspend({ _tag: "WaitingForSignal", signal: name }, undefined)
      return Option.getOrElse(
        decodeDecision(received.value),
        (): Decision => ({ approved: false, reason: "the decision sent could not be read" })
      )
    })

  /**
   * After an answer that asks approvals: waits for each decision, then gives the request Effect AI makes next (the
   * prompt, the answer, and the decisions), so the approved tools run and the model hears their results.
   */
  const afterApprovals = (call: CallOptions, content: ReadonlyArray<Response.AnyPart>) =>
    Effect.gen(function* () {
      const requests = content.filter((part) => part.type === "tool-approval-request")
      if (requests.length === 0 || call.toolkit === undefined) return undefined
      const decisions: Array<Prompt.ToolApprovalResponsePart> = []
      for (const request of requests) {
        const decision = yield* decisionOn(request.approvalId)
        decisions.push(Prompt.makePart("tool-approval-response", { approvalId: request.approvalId, ...decision }))
      }
      const prompt = Prompt.fromMessages([
        ...Prompt.make(call.prompt).content,
        ...Prompt.fromResponseParts(content).content,
        Prompt.makeMessage("tool", { content: decisions })
      ])
      return { ...call, prompt } satisfies CallOptions
    })

  /** generateText and generateObject: one answer, recorded whole. */
  const generate = (
    method: "generateText" | "generateObject",
    call: CallOptions
  ): Effect.Effect<LanguageModel.GenerateTextResponse<Record<string, Tool.Any>>, unknown, unknown> =>
    Effect.gen(function* () {
      const n = calls++
      const toolkit = yield* resolveToolkit(call.toolkit)
      const request = yield* fingerprint(method, call, toolkit)
      const { key, recorded } = yield* locate(n, method, request)
      const parts = partsCodec(toolkit)
      const value = Schema.toCodecJson((call.schema ?? Schema.Unknown) as Schema.Codec<unknown, unknown>)
      const answer = (stored: Recorded) =>
        Effect.gen(function* () {
          const content = Array.from(yield* Effect.catch(Schema.decodeUnknownEffect(parts)(stored.parts), invalid(key)))
          if (method === "generateText") return new LanguageModel.GenerateTextResponse(content)
          const decoded = yield* Effect.catch(Schema.decodeUnknownEffect(value)(stored.value), invalid(key))
          return new LanguageModel.GenerateObjectResponse(decoded, content)
        })
      let response: LanguageModel.GenerateTextResponse<Record<string, Tool.Any>>
      if (Option.isSome(recorded)) {
        // A crash between the record and its settlement left the call held: settle it now (nothing, otherwise).
        yield* budget.settle(key, recorded.value.usage)
        response = yield* answer(recorded.value)
      } else {
        // The budget first: a call it refuses takes no permit, nor waits for one.
        yield* budget.reserve(key, method)
        const limitKey = yield* permit.take(key, method)
        const durableCall = {
          ...call,
          toolkit: toolkit === undefined ? undefined : recordedTools(toolkit, n, task, steps)
        }
        const fresh = (yield* (inner[method] as (options: unknown) => Effect.Effect<unknown, unknown, unknown>)(
          durableCall
        ).pipe(
          // A failed call is counted as a call; an interrupted one stays held for the run that makes it again.
          Effect.tapError((error) =>
            Effect.andThen(Effect.ignore(budget.settle(key, undefined)), permit.failed(limitKey, key, error))
          ),
          // An interrupted call (a cancel) gives its permit back at once: a run made again takes a new one.
          Effect.onInterrupt(() => permit.give(limitKey, key, undefined))
        )) as LanguageModel.GenerateObjectResponse<Record<string, Tool.Any>, unknown>
        const usage = usageOf(fresh.content)
        const stored = yield* record(n, key, {
          method,
          request,
          parts: yield* Effect.orDie(Schema.encodeUnknownEffect(parts)(fresh.content)),
          ...(method === "generateObject"
            ? { value: (yield* Effect.orDie(Schema.encodeUnknownEffect(value)(fresh.value))) as Schema.Json }
            : {}),
          usage
        })
        yield* permit.give(limitKey, key, usage)
        yield* budget.settle(key, usage)
        // Another attempt recorded this call first: answer what it recorded, so that every run reads the same.
        response = Option.isNone(stored) ? fresh : yield* answer(stored.value)
      }
      const next = yield* afterApprovals(call, response.content)
      return next === undefined ? response : yield* generate(method, next)
    }).pipe(Effect.mapError(storeFailure(method)))

  const streamText = (
    call: CallOptions
  ): Stream.Stream<Response.StreamPart<Record<string, Tool.Any>>, unknown, unknown> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const n = calls++
        const toolkit = yield* resolveToolkit(call.toolkit)
        const request = yield* fingerprint("streamText", call, toolkit)
        const { key, recorded } = yield* locate(n, "streamText", request)
        const parts = streamPartsCodec(toolkit)
        const thenApprovals = (content: ReadonlyArray<Response.AnyPart>) =>
          Stream.unwrap(
            Effect.map(afterApprovals(call, content), (next) => (next === undefined ? Stream.empty : streamText(next)))
          )
        if (Option.isSome(recorded)) {
          yield* budget.settle(key, recorded.value.usage)
          const content = yield* Effect.catch(Schema.decodeUnknownEffect(parts)(recorded.value.parts), invalid(key))
          return Stream.concat(Stream.fromIterable(content), thenApprovals(content as ReadonlyArray<Response.AnyPart>))
        }
        const durableCall = {
          ...call,
          toolkit: toolkit === undefined ? undefined : recordedTools(toolkit, n, task, steps)
        }
        yield* budget.reserve(key, "streamText")
        const limitKey = yield* permit.take(key, "streamText")
        const seen: Array<Response.StreamPart<Record<string, Tool.Any>>> = []
        const live = (
          inner.streamText as (options: unknown) => Stream.Stream<Response.StreamPart<Record<string, Tool.Any>>>
        )(durableCall).pipe(
          Stream.tapError((error) =>
            Effect.andThen(Effect.ignore(budget.settle(key, undefined)), permit.failed(limitKey, key, error))
          ),
          Stream.onExit((exit) => (Exit.hasInterrupts(exit) ? permit.give(limitKey, key, undefined) : Effect.void)),
          Stream.map((part) => {
            seen.push(part)
            if (part.type === "text-delta") {
              events.publishUnsafe({
                _tag: "ModelTextDelta",
                taskId: task.id,
                taskName: task.name,
                call: n,
                delta: part.delta
              })
            }
            return part
          })
        )
        const finish = Effect.gen(function* () {
          const final = joinDeltas(seen)
          const usage = usageOf(final as ReadonlyArray<Response.AnyPart>)
          yield* record(n, key, {
            method: "streamText",
            request,
            parts: yield* Effect.orDie(Schema.encodeUnknownEffect(parts)(final)),
            usage
          })
          yield* permit.give(limitKey, key, usage)
          yield* budget.settle(key, usage)
        })
        return Stream.concat(
          Stream.concat(live, Stream.fromEffectDrain(finish)),
          Stream.suspend(() => thenApprovals(seen as ReadonlyArray<Response.AnyPart>))
        )
      })
    ).pipe(Stream.mapError(storeFailure("streamText")))

  return {
    ...inner,
    generateText: ((call: CallOptions) =>
      generate("generateText", call)) as unknown as LanguageModel.LanguageModel["generateText"],
    generateObject: ((call: CallOptions) =>
      generate("generateObject", call)) as unknown as LanguageModel.LanguageModel["generateObject"],
    streamText: streamText as unknown as LanguageModel.LanguageModel["streamText"]
  }
}
