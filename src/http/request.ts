/**
 * What a route reads from a request, declared once as Schemas: its path, query and header parameters (a Struct each,
 * keyed by parameter name) and its JSON body. The handler gets the parts only decoded by these Schemas, and the
 * OpenAPI document is written from the same ones, so the documentation cannot drift from what is decoded.
 */
import { Effect, Schema, SchemaAST, SchemaTransformation } from "effect"
import type { Context } from "hono"
import { InvalidRequest, type PayloadTooLarge, type UnsupportedMediaType } from "./errors.ts"
import { readJsonBody } from "./internal/body.ts"

/** A Schema that decodes without services, as every part of a request must. */
export type RequestSchema = Schema.Top & { readonly DecodingServices: never }

/**
 * The parameters of one part of a request. Each field decodes a parameter's text; its Type side is what the
 * OpenAPI document shows (a number read from digits is documented as the integer it decodes to, with its bounds), and
 * `annotateKey({ description })` on the field gives the parameter's description.
 */
export type ParameterSchemas = Schema.Struct<Schema.Struct.Fields> & { readonly DecodingServices: never }

export interface RequestSchemas {
  /** Path parameters, by the names of the route's `:name` segments. */
  readonly path?: ParameterSchemas | undefined
  readonly query?: ParameterSchemas | undefined
  /** Headers, by name (matched without regard to case). */
  readonly headers?: ParameterSchemas | undefined
  /** The JSON body, decoded after `readJsonBody`'s checks of media type, size and syntax. */
  readonly body?: RequestSchema | undefined
}

type PartOf<S> = S extends Schema.Top ? S["Type"] : Record<string, never>

/**
 * The parts of one request, each decoded when the handler asks for it (so that a handler checks what it must first,
 * such as a missing store, in its own order). A part the route does not declare decodes to nothing.
 */
export interface RequestInput<R extends RequestSchemas> {
  readonly raw: Request
  readonly path: Effect.Effect<PartOf<R["path"]>, InvalidRequest>
  readonly query: Effect.Effect<PartOf<R["query"]>, InvalidRequest>
  readonly headers: Effect.Effect<PartOf<R["headers"]>, InvalidRequest>
  readonly body: Effect.Effect<
    R["body"] extends Schema.Top ? R["body"]["Type"] : never,
    InvalidRequest | PayloadTooLarge | UnsupportedMediaType
  >
}

/** A whole number written in decimal digits only (no sign, exponent, point or space), then checked by `schema`. */
export const digitsTo = <S extends Schema.Codec<number, number>>(schema: S) =>
  Schema.String.check(Schema.isPattern(/^[0-9]{1,16}$/u)).pipe(
    Schema.decodeTo(schema, SchemaTransformation.numberFromString)
  )

const decodePart = (schema: Schema.Top | undefined, what: string, input: () => unknown) =>
  Effect.suspend(() =>
    schema === undefined
      ? Effect.succeed({})
      : Effect.mapError(
          Schema.decodeUnknownEffect(schema as RequestSchema)(input()),
          (error) => new InvalidRequest({ detail: `invalid ${what}: ${error.message}` })
        )
  )

const headersOf = (schema: ParameterSchemas | undefined, c: Context): Record<string, string> => {
  const headers: Record<string, string> = {}
  for (const name of Object.keys(schema?.fields ?? {})) {
    const value = c.req.header(name)
    if (value !== undefined) headers[name] = value
  }
  return headers
}

/** The request's parts, each decoded by its Schema on demand. */
export const requestInput = <R extends RequestSchemas>(
  schemas: R,
  c: Context,
  bodyLimitBytes: number
): RequestInput<R> =>
  ({
    raw: c.req.raw,
    path: decodePart(schemas.path, "path", () => c.req.param()),
    query: decodePart(schemas.query, "query", () => c.req.query()),
    headers: decodePart(schemas.headers, "headers", () => headersOf(schemas.headers, c)),
    body:
      schemas.body === undefined
        ? Effect.die(new Error("this route declares no body"))
        : Effect.flatMap(readJsonBody(c.req.raw, bodyLimitBytes), (json) =>
            decodePart(schemas.body, "body", () => json)
          )
  }) as RequestInput<R>

/** One documented parameter, derived from a field of a part's Struct. */
export interface ParameterDoc {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly required: boolean
  readonly description: string | undefined
  /** The field's Type side: the value the parameter's text stands for. */
  readonly schema: Schema.Top
}

const parametersOf = (schemas: ParameterSchemas | undefined, where: ParameterDoc["in"]): Array<ParameterDoc> =>
  Object.entries(schemas?.fields ?? {}).map(([name, field]) => {
    const description = field.ast.context?.annotations?.description
    return {
      name,
      in: where,
      required: where === "path" || !SchemaAST.isOptional(field.ast),
      description: typeof description === "string" ? description : undefined,
      schema: Schema.make(SchemaAST.toType(field.ast))
    }
  })

/**
 * The parameters `schemas` decode, as documented for the OpenAPI path `path`: a path parameter is listed where the path
 * has its `{name}` (a route with a path per task, `/tasks/greet`, has none).
 */
export const parameterDocs = (schemas: RequestSchemas, path: string): Array<ParameterDoc> => [
  ...parametersOf(schemas.path, "path").filter((parameter) => path.includes(`{${parameter.name}}`)),
  ...parametersOf(schemas.query, "query"),
  ...parametersOf(schemas.headers, "header")
]
