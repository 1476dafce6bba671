/**
 * Reading a JSON request body: the media type, then the bytes actually read (never only `Content-Length`), then
 * UTF-8, nesting depth and JSON syntax. Reading stops, and the body is cancelled, as soon as the limit is passed.
 */
import { Effect, Schema, Stream } from "effect"
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from "../errors.ts"

/** Deeper JSON is refused before parsing: decoding and encoding it recursively could exhaust the stack. */
export const MAX_JSON_DEPTH = 64

const isJsonMediaType = (mediaType: string) =>
  mediaType === "application/json" || /^application\/[a-z0-9!#$&^_.-]+\+json$/.test(mediaType)

/** Fails unless the content type is JSON in UTF-8 (the default for JSON). */
export const requireJson = (contentType: string | undefined): Effect.Effect<void, UnsupportedMediaType> => {
  const [mediaType = "", ...parameters] = (contentType ?? "").split(";")
  const charset = parameters
    .map((parameter) => parameter.trim().toLowerCase())
    .find((parameter) => parameter.startsWith("charset="))
    ?.slice("charset=".length)
    .replaceAll('"', "")
  const isUtf8 = charset === undefined || charset === "utf-8" || charset === "utf8"
  return isJsonMediaType(mediaType.trim().toLowerCase()) && isUtf8
    ? Effect.void
    : Effect.fail(new UnsupportedMediaType({ contentType: (contentType ?? "").slice(0, 100) }))
}

const readBytes = (request: Request, limitBytes: number) =>
  Effect.gen(function* () {
    const declared = request.headers.get("content-length")
    if (declared !== null) {
      if (!/^\d{1,15}$/.test(declared)) return yield* new InvalidRequest({ detail: "invalid Content-Length header" })
      if (Number(declared) > limitBytes) return yield* new PayloadTooLarge({ limitBytes })
    }
    const body = request.body
    if (body === null) return new Uint8Array(0)
    const chunks = yield* Stream.fromReadableStream({
      evaluate: () => body,
      onError: () => new InvalidRequest({ detail: "the request body could not be read" })
    }).pipe(
      Stream.runFoldEffect(
        () => ({ size: 0, chunks: [] as Array<Uint8Array> }),
        (acc, chunk: Uint8Array) => {
          acc.size += chunk.byteLength
          if (acc.size > limitBytes) return Effect.fail(new PayloadTooLarge({ limitBytes }))
          acc.chunks.push(chunk)
          return Effect.succeed(acc)
        }
      )
    )
    const bytes = new Uint8Array(chunks.size)
    let offset = 0
    for (const chunk of chunks.chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    return bytes
  })

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** True when arrays and objects nest deeper than `max` (brackets inside strings do not count). */
export const isNestedDeeperThan = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === 92 /* \ */) i++
      else if (char === 34 /* " */) inString = false
    } else if (char === 34) {
      inString = true
    } else if (char === 91 /* [ */ || char === 123 /* { */) {
      if (++depth > max) return true
    } else if (char === 93 /* ] */ || char === 125 /* } */) {
      depth--
    }
  }
  return false
}

const parseJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Unknown))

/** The request's body as a JSON value. */
export const readJsonBody = (
  request: Request,
  limitBytes: number
): Effect.Effect<unknown, InvalidRequest | PayloadTooLarge | UnsupportedMediaType> =>
  Effect.gen(function* () {
    yield* requireJson(request.headers.get("content-type") ?? undefined)
    const bytes = yield* readBytes(request, limitBytes)
    const text = yield* Effect.try({
      try: () => utf8.decode(bytes),
      catch: () => new InvalidRequest({ detail: "the request body is not valid UTF-8" })
    })
    if (isNestedDeeperThan(text, MAX_JSON_DEPTH)) {
      return yield* new InvalidRequest({ detail: `the request body nests deeper than ${MAX_JSON_DEPTH} levels` })
    }
    return yield* Effect.mapError(
      parseJson(text),
      () => new InvalidRequest({ detail: "the request body is not valid JSON" })
    )
  })
