/**
 * A `LanguageModel` that answers from a script, for testing agents offline: text, streamed deltas, tool calls,
 * structured output, usage and failures, with no network. It is made with Effect AI's own `LanguageModel.make`, so
 * tool calls are resolved by the toolkit's handlers and approvals are asked as with any provider.
 *
 * ```ts
 * const model = ScriptedModel.layer([{ text: "Hello" }, { toolCalls: [{ name: "search", params: { q: "x" } }] }])
 * ```
 */
import { type Duration, Effect, Layer, Ref, Stream } from "effect"
import { AiError, LanguageModel, type Prompt, type Response } from "effect/ai"

/** One answer of the scripted model. */
export interface ScriptedTurn {
  /** The answer's text (the JSON text of the object, for `generateObject`). */
  readonly text?: string | undefined
  /** How `streamText` streams the text; by default in one delta. Joined, they are the text. */
  readonly deltas?: ReadonlyArray<string> | undefined
  /** An object to answer `generateObject` with: its JSON is the answer's text. */
  readonly object?: unknown
  /** Tool calls the model asks for; each `id` defaults to `call-<turn>-<index>`. */
  readonly toolCalls?: ReadonlyArray<{ readonly name: string; readonly params: unknown; readonly id?: string }>
  readonly usage?: { readonly inputTokens?: number; readonly outputTokens?: number; readonly cachedTokens?: number }
  /** The model id the answer reports. Default `scripted`. */
  readonly modelId?: string | undefined
  /** Fail the call instead, with an `AiError` of this reason. */
  readonly fail?: "RateLimitError" | "InternalProviderError" | "NetworkError" | undefined
  /** Fail `streamText` after this many deltas were streamed (a provider that dropped the connection). */
  readonly failAfterDeltas?: number | undefined
  /** How long the answer takes (on the Clock: a test clock moves it). */
  readonly delay?: Duration.Input | undefined
}

/** What a call asked: its prompt, the text of its last user message, and its number (0 for the process's first). */
export interface ScriptedRequest {
  readonly prompt: Prompt.Prompt
  readonly lastUserText: string
  readonly index: number
  readonly tools: ReadonlyArray<string>
}

/** Turns taken in order (the last one repeats), or a function of the request. */
export type Script = ReadonlyArray<ScriptedTurn> | ((request: ScriptedRequest) => ScriptedTurn)

const lastUserText = (prompt: Prompt.Prompt): string => {
  for (let i = prompt.content.length - 1; i >= 0; i--) {
    const message = prompt.content[i]
    if (message?.role !== "user") continue
    return message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
  }
  return ""
}

const failure = (reason: NonNullable<ScriptedTurn["fail"]>, method: string) =>
  AiError.make({
    module: "ScriptedModel",
    method,
    reason:
      reason === "RateLimitError"
        ? new AiError.RateLimitError({})
        : reason === "NetworkError"
          ? new AiError.NetworkError({
              reason: "TransportError",
              method: "POST",
              url: "scripted:",
              description: "scripted"
            })
          : new AiError.InternalProviderError({ description: "scripted failure" })
  })

const textOf = (turn: ScriptedTurn) =>
  turn.text ?? (turn.object !== undefined ? JSON.stringify(turn.object) : (turn.deltas ?? []).join(""))

const finishPart = (turn: ScriptedTurn): Response.FinishPartEncoded => {
  const input = turn.usage?.inputTokens ?? 0
  const cached = turn.usage?.cachedTokens ?? 0
  return {
    type: "finish",
    reason: (turn.toolCalls?.length ?? 0) > 0 ? "tool-calls" : "stop",
    usage: {
      inputTokens: { total: input, uncached: input - cached, cacheRead: cached, cacheWrite: undefined },
      outputTokens: { total: turn.usage?.outputTokens ?? 0, text: turn.usage?.outputTokens ?? 0, reasoning: 0 }
    }
  }
}

const toolCallParts = (turn: ScriptedTurn, index: number): Array<Response.ToolCallPartEncoded> =>
  (turn.toolCalls ?? []).map((call, i) => ({
    type: "tool-call",
    id: call.id ?? `call-${index}-${i}`,
    name: call.name,
    params: call.params
  }))

/** The service and how many calls it answered in this process. */
export interface ScriptedModel {
  readonly service: LanguageModel.LanguageModel
  /** Every request answered so far, oldest first. */
  readonly requests: Effect.Effect<ReadonlyArray<ScriptedRequest>>
  /** The most calls that were being answered at once. */
  readonly maxConcurrent: Effect.Effect<number>
}

/** Makes a scripted model; `onCall` runs as each call starts (to count calls across processes, say). */
export const make = (
  script: Script,
  options?: { readonly onCall?: ((request: ScriptedRequest) => void) | undefined }
): Effect.Effect<ScriptedModel> =>
  Effect.gen(function* () {
    const requests = yield* Ref.make<ReadonlyArray<ScriptedRequest>>([])
    let inFlight = 0
    let maxConcurrent = 0
    /** Counts the call as answering while `answer` runs, after the turn's delay. */
    const answering = <A, E>(turn: ScriptedTurn, answer: Effect.Effect<A, E>) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          inFlight++
          maxConcurrent = Math.max(maxConcurrent, inFlight)
        }),
        () => (turn.delay === undefined ? answer : Effect.andThen(Effect.sleep(turn.delay), answer)),
        () =>
          Effect.sync(() => {
            inFlight--
          })
      )
    const take = (provider: LanguageModel.ProviderOptions) =>
      Ref.modify(requests, (done): [readonly [ScriptedTurn, ScriptedRequest], ReadonlyArray<ScriptedRequest>] => {
        const request: ScriptedRequest = {
          prompt: provider.prompt,
          lastUserText: lastUserText(provider.prompt),
          index: done.length,
          tools: provider.tools.map((tool) => tool.name)
        }
        const turn =
          typeof script === "function" ? script(request) : (script[Math.min(done.length, script.length - 1)] ?? {})
        return [
          [turn, request],
          [...done, request]
        ]
      }).pipe(Effect.tap(([, request]) => Effect.sync(() => options?.onCall?.(request))))

    const service = yield* LanguageModel.make({
      generateText: (provider) =>
        Effect.flatMap(take(provider), ([turn, request]) =>
          answering(
            turn,
            turn.fail !== undefined
              ? Effect.fail(failure(turn.fail, "generateText"))
              : Effect.succeed<Array<Response.PartEncoded>>([
                  { type: "response-metadata", id: `response-${request.index}`, modelId: turn.modelId ?? "scripted" },
                  ...(textOf(turn) === "" ? [] : [{ type: "text" as const, text: textOf(turn) }]),
                  ...toolCallParts(turn, request.index),
                  finishPart(turn)
                ])
          )
        ),
      streamText: (provider) =>
        Stream.unwrap(
          Effect.map(take(provider), ([turn, request]) => {
            if (turn.fail !== undefined) return Stream.fail(failure(turn.fail, "streamText"))
            const deltas = turn.deltas ?? (textOf(turn) === "" ? [] : [textOf(turn)])
            const id = `text-${request.index}`
            const head: Array<Response.StreamPartEncoded> = [
              { type: "response-metadata", id: `response-${request.index}`, modelId: turn.modelId ?? "scripted" },
              ...(deltas.length === 0 ? [] : [{ type: "text-start" as const, id }])
            ]
            const streamed = deltas.map((delta): Response.StreamPartEncoded => ({ type: "text-delta", id, delta }))
            const tail: Array<Response.StreamPartEncoded> = [
              ...(deltas.length === 0 ? [] : [{ type: "text-end" as const, id }]),
              ...toolCallParts(turn, request.index),
              finishPart(turn)
            ]
            if (turn.failAfterDeltas !== undefined) {
              return Stream.concat(
                Stream.fromIterable([...head, ...streamed.slice(0, turn.failAfterDeltas)]),
                Stream.fail(failure("NetworkError", "streamText"))
              )
            }
            return Stream.fromIterable([...head, ...streamed, ...tail])
          })
        )
    })
    return { service, requests: Ref.get(requests), maxConcurrent: Effect.sync(() => maxConcurrent) }
  })

/** A layer of the scripted model, for a runtime or a test. */
export const layer = (
  script: Script,
  options?: { readonly onCall?: ((request: ScriptedRequest) => void) | undefined }
): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(make(script, options), (model) => model.service)
  )
