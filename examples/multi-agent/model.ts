/**
 * The model the agents call. By default a scripted model that needs no network: it answers from the prompt alone
 * (the prompts `agents.ts` writes), so a run started again, resumed after a crash or forked gets the same answers,
 * and it reports token counts in proportion to the text. With `WAYPOINT_MODEL_BASE_URL` set, an OpenAI-compatible
 * endpoint (OpenAI, or a local llama.cpp, Ollama, vLLM or LM Studio server) through `@effect/ai-openai-compat`,
 * which is loaded only then (`openAiCompat.ts`).
 *
 * Either way the agents' calls go through the runtime's `ModelCalls` plugin: each is recorded once and answered from
 * its record when a body runs again, so the model below is called only for calls never answered before.
 */
import { Context, Effect, Layer, Schema, Stream } from "effect"
import { LanguageModel, type Prompt } from "effect/ai"
import { type PriceTable, ScriptedModel } from "../../src/ai.ts"

/** Which model the example calls. */
export type ModelChoice =
  | { readonly _tag: "Scripted"; readonly latencyMs: number }
  | {
      readonly _tag: "OpenAiCompat"
      readonly baseUrl: string
      readonly model: string
      readonly apiKey: string | undefined
    }

/** The model cannot be used: the endpoint is unreachable or refused us, or its client could not be loaded. */
export class ModelUnavailable extends Schema.TaggedError<ModelUnavailable>()("ModelUnavailable", {
  reason: Schema.String
}) {}

/** The model id the scripted model reports. */
export const SCRIPTED_MODEL_ID = "scripted-model"

/**
 * Dollars per million tokens, by the model id a response reports. The scripted model is priced as a mid-size hosted
 * model; a model not in the table costs 0 (a local server).
 */
export const prices: PriceTable = { [SCRIPTED_MODEL_ID]: { inputPerMillion: 3, outputPerMillion: 15 } }

/**
 * Where a model call is made, set by an agent around its call: `onCall` runs when the call really goes to the model,
 * which a call answered from its record never does (`agents.ts` reports it; `--trace-model` prints it).
 */
export const CallSite = Context.Reference<{ readonly onCall: Effect.Effect<void> }>("examples/multi-agent/CallSite", {
  defaultValue: () => ({ onCall: Effect.void })
})

/** The calls of a `LanguageModel`, as `mapCalls` sees them. */
interface Calls {
  readonly generateText: (options: unknown) => Effect.Effect<unknown, unknown, unknown>
  readonly generateObject: (options: unknown) => Effect.Effect<unknown, unknown, unknown>
  readonly streamText: (options: unknown) => Stream.Stream<unknown, unknown, unknown>
}

/** `model` with each call's effect, or stream, changed by `f`, or `g`. */
const mapCalls = (
  model: LanguageModel.LanguageModel,
  f: (call: Effect.Effect<unknown, unknown, unknown>) => Effect.Effect<unknown, unknown, unknown>,
  g: (call: Stream.Stream<unknown, unknown, unknown>) => Stream.Stream<unknown, unknown, unknown>
): LanguageModel.LanguageModel => {
  const calls = model as unknown as Calls
  const mapped: Calls = {
    generateText: (options) => f(calls.generateText(options)),
    generateObject: (options) => f(calls.generateObject(options)),
    streamText: (options) => g(calls.streamText(options))
  }
  return { ...model, ...(mapped as unknown as Pick<LanguageModel.LanguageModel, keyof Calls>) }
}

/** `model`, telling each call's `CallSite` as the call starts. */
const reportingCalls = (model: LanguageModel.LanguageModel) => {
  const onCall = Effect.flatMap(Effect.service(CallSite), (site) => site.onCall)
  return mapCalls(
    model,
    (call) => Effect.andThen(onCall, call),
    (call) => Stream.unwrap(Effect.as(onCall, call))
  )
}

/** The model `choice` names, as the runtime is given it (`ModelCalls` wraps it for each task). */
export const layer = (choice: ModelChoice): Layer.Layer<LanguageModel.LanguageModel, ModelUnavailable> => {
  const inner =
    choice._tag === "Scripted"
      ? Layer.effect(
          LanguageModel.LanguageModel,
          Effect.map(
            ScriptedModel.make((request) => ({ ...answer(request), delay: choice.latencyMs })),
            (model) => pacedDeltas(model.service, choice.latencyMs)
          )
        )
      : Layer.unwrap(
          Effect.map(
            Effect.tryPromise({
              try: () => import("./openAiCompat.ts"),
              catch: (error) => new ModelUnavailable({ reason: `cannot load the provider: ${String(error)}` })
            }),
            (provider) => provider.layer(choice)
          )
        )
  return Layer.effect(
    LanguageModel.LanguageModel,
    Effect.map(Effect.service(LanguageModel.LanguageModel), reportingCalls)
  ).pipe(Layer.provide(inner))
}

/** What `choice` is, in a few words. */
export const describe = (choice: ModelChoice) =>
  choice._tag === "Scripted"
    ? "the scripted model (offline; set WAYPOINT_MODEL_BASE_URL and WAYPOINT_MODEL for a real one)"
    : `${choice.model} at ${choice.baseUrl}`

// ---------------------------------------------------------------------------------------------------------------
// The scripted model

/** The scripted model answers after about a step's time (its turns' `delay`), and streams a delta at a time. */
const pacedDeltas = (model: LanguageModel.LanguageModel, ms: number) =>
  mapCalls(
    model,
    (call) => call,
    (call) =>
      Stream.tap(call, (part) =>
        (part as { readonly type: string }).type === "text-delta" ? Effect.sleep(Math.ceil(ms / 4)) : Effect.void
      )
  )

/** The text of a prompt, every message's. */
const promptText = (prompt: Prompt.Prompt) =>
  prompt.content
    .map((message) =>
      typeof message.content === "string"
        ? message.content
        : message.content.map((part) => (part.type === "text" ? part.text : "")).join("")
    )
    .join("\n")

/** About four characters a token, as a tokenizer of English text counts. */
const tokens = (text: string) => Math.ceil(text.length / 4)

/**
 * The answer to a request, from the prompts of `agents.ts`: the supervisor's plan (an object), a researcher's
 * finding, a sub-researcher's history, the writer's report (streamed line by line).
 */
const answer = (request: ScriptedModel.ScriptedRequest): ScriptedModel.ScriptedTurn => {
  const asked = request.lastUserText
  const turn = answerTo(asked)
  const text = turn.text ?? (turn.object !== undefined ? JSON.stringify(turn.object) : (turn.deltas ?? []).join(""))
  return {
    ...turn,
    modelId: SCRIPTED_MODEL_ID,
    usage: {
      // and a few tokens of framing per message
      inputTokens: tokens(promptText(request.prompt)) + 4 * request.prompt.content.length,
      outputTokens: tokens(text) + 1
    }
  }
}

const answerTo = (asked: string): ScriptedModel.ScriptedTurn => {
  const topics = /^Topics:\n((?:- .+\n?)+)/m.exec(asked)
  if (topics !== null) {
    const names = (topics[1] ?? "")
      .split("\n")
      .filter((line) => line.startsWith("- "))
      .map((line) => line.slice(2).replace(/ \(.*\)$/, ""))
    return { object: { questions: names.map((topic) => ({ topic, question: `What shapes ${topic} today?` })) } }
  }
  const finding = /^Topic: (.+)$/m.exec(asked)
  const number = /^Write finding (\d+)\.$/m.exec(asked)
  if (finding !== null && number !== null) return { text: `fact ${number[1]} on ${finding[1]}` }
  const history = /^Summarize the history of (.+) in one sentence\.$/m.exec(asked)
  if (history !== null) return { text: `the history of ${history[1]}` }
  const notes = /^Notes:\n((?:- .+\n?)+)/m.exec(asked)
  if (notes !== null) {
    const lines = (notes[1] ?? "")
      .split("\n")
      .filter((line) => line.startsWith("- "))
      .map((line, i) => `${i + 1}. ${line.slice(2)}`)
    return { deltas: lines.map((line, i) => (i === 0 ? line : `\n${line}`)) }
  }
  return { text: "The scripted model has no answer to this prompt." }
}
