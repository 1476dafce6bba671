/**
 * A real model for the example: an OpenAI-compatible chat-completions endpoint through `@effect/ai-openai-compat`.
 * `model.ts` imports this module only when `WAYPOINT_MODEL_BASE_URL` is set, so the offline example never loads it.
 *
 * `@effect/ai-openai-compat` 4.0.0-beta.98 (its newest) was built against the betas of effect 4, before 4.1 moved
 * `effect/unstable/{ai,http,encoding}/*` to `effect/{ai,http,encoding}/*` and `effect/Encoding` to
 * `effect/encoding/Base64`: as published it does not load beside effect 4.1. Until a release built on 4.1 exists, a
 * module-resolution hook (Node and Deno) maps those paths before the package is imported, and the client's transport
 * errors are turned into Effect AI errors before the package's own mapping, which builds them with 4.0's fields.
 */
import { registerHooks } from "node:module"
import { Duration, Effect, Layer, Redacted } from "effect"
import { AiError, type LanguageModel } from "effect/ai"
import { FetchHttpClient, HttpClient, type HttpClientError, HttpClientRequest } from "effect/http"
import { ModelUnavailable } from "./model.ts"

/** How long the endpoint has to answer its first request (the list of models) before the run gives up. */
const REACHABLE_WITHIN = Duration.seconds(10)

let isMapped = false
/** Resolves the effect 4.0 beta paths `@effect/ai-openai-compat` imports to where effect 4.1 has them. */
const mapEffectBetaPaths = () => {
  if (isMapped) return
  isMapped = true
  const base64 = import.meta.resolve("effect/encoding/Base64")
  const encoding = `data:text/javascript,${encodeURIComponent(
    `import { encode } from ${JSON.stringify(base64)}; export const encodeBase64 = encode`
  )}`
  registerHooks({
    resolve: (specifier, context, next) => {
      if (specifier === "effect/Encoding") return { url: encoding, shortCircuit: true }
      return next(specifier.startsWith("effect/unstable/") ? `effect/${specifier.slice(16)}` : specifier, context)
    }
  })
}

const requestErrors = new Set(["TransportError", "EncodeError", "InvalidUrlError"])

/** A failed request (refused, unreachable, a bad URL) as the `AiError` Effect AI's calls fail with. */
const requestErrorsAsAiErrors = (client: HttpClient.HttpClient) =>
  HttpClient.transformResponse(client, (response) =>
    Effect.catchIf(
      response,
      (error): error is HttpClientError.HttpClientError & { readonly reason: HttpClientError.RequestError } =>
        requestErrors.has(error.reason._tag),
      (error) =>
        Effect.fail(
          AiError.make({
            module: "OpenAiClient",
            method: "request",
            reason: AiError.NetworkError.fromHttpClientError(error)
          })
        )
    )
  )

/** An error's message, and the innermost of its causes' (fetch fails with "fetch failed", caused by what failed). */
const withRootCause = (error: Error): string => {
  let root: string | undefined
  for (let cause = error.cause, depth = 0; cause instanceof Error && depth < 8; depth++) {
    root = cause.message
    cause = cause.cause
  }
  return root === undefined || error.message.includes(root) ? error.message : `${error.message}: ${root}`
}

/** Fails unless `baseUrl` answers a request for its models in time and takes the key. */
const checkReachable = (baseUrl: string, apiKey: string | undefined) =>
  Effect.gen(function* () {
    const request = HttpClientRequest.get(`${baseUrl}/models`)
    const client = yield* HttpClient.HttpClient
    const response = yield* client
      .execute(apiKey === undefined ? request : HttpClientRequest.bearerToken(request, apiKey))
      .pipe(
        Effect.timeoutOrElse({
          duration: REACHABLE_WITHIN,
          orElse: () =>
            Effect.fail(
              new ModelUnavailable({
                reason: `no answer from ${baseUrl}/models within ${Duration.format(REACHABLE_WITHIN)}`
              })
            )
        }),
        Effect.catchTag("HttpClientError", (error) =>
          Effect.fail(new ModelUnavailable({ reason: `cannot reach the model at ${baseUrl}: ${withRootCause(error)}` }))
        )
      )
    if (response.status === 401 || response.status === 403) {
      return yield* new ModelUnavailable({
        reason: `${baseUrl} refused the request (HTTP ${response.status}): check WAYPOINT_MODEL_API_KEY`
      })
    }
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** The `LanguageModel` of `model` at `baseUrl`, once the endpoint is seen to answer. */
export const layer = (options: {
  readonly baseUrl: string
  readonly model: string
  readonly apiKey: string | undefined
}): Layer.Layer<LanguageModel.LanguageModel, ModelUnavailable> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const baseUrl = options.baseUrl.replace(/\/+$/, "")
      yield* checkReachable(baseUrl, options.apiKey)
      mapEffectBetaPaths()
      const { OpenAiClient, OpenAiLanguageModel } = yield* Effect.tryPromise({
        try: () => import("@effect/ai-openai-compat"),
        catch: (error) => new ModelUnavailable({ reason: `cannot load @effect/ai-openai-compat: ${String(error)}` })
      })
      return OpenAiLanguageModel.layer({ model: options.model }).pipe(
        Layer.provide(
          OpenAiClient.layer({
            apiUrl: baseUrl,
            apiKey: options.apiKey === undefined ? undefined : Redacted.make(options.apiKey),
            transformClient: requestErrorsAsAiErrors
          })
        ),
        Layer.provide(FetchHttpClient.layer)
      ) as Layer.Layer<LanguageModel.LanguageModel>
    })
  )
