/**
 * The OpenAPI 3.1 document of an app, written from its routes: each route's operations, with parameters and bodies
 * from the Schemas its handler decodes the request with (`Route.request`, each task's input), and answers from the
 * Schemas that type them.
 */
import { JsonSchema, Schema, type SchemaAST, SchemaRepresentation } from "effect"
import { type ParameterDoc, parameterDocs } from "./request.ts"
import type { OperationDoc, ResponseDoc, Route } from "./route.ts"

export interface OpenApiOptions {
  /** The URL the paths are relative to: the prefix the app is mounted at. */
  readonly serverUrl: string
  readonly hasBearerAuth: boolean
}

type Json = Schema.Json

/** Converts every Schema at once, so the named ones become shared `components.schemas`. */
const jsonSchemas = (schemas: ReadonlyArray<Schema.Top>) => {
  const unique = Array.from(new Set(schemas))
  const asts = unique.map((schema) => Schema.toCodecJson(schema).ast) as [SchemaAST.AST, ...Array<SchemaAST.AST>]
  const document = JsonSchema.toMultiDocumentOpenApi3_1(
    SchemaRepresentation.toJsonSchemaMultiDocument(SchemaRepresentation.toRepresentations(asts))
  )
  const bySchema = new Map(unique.map((schema, i) => [schema, document.schemas[i] as Json]))
  return { of: (schema: Schema.Top): Json => bySchema.get(schema) ?? {}, components: document.definitions }
}

/** What one operation documents of the request: the parameters and the body its handler decodes. */
interface RequestDoc {
  readonly parameters: ReadonlyArray<ParameterDoc>
  readonly body: Schema.Top | undefined
}

const requestOf = (route: Route, doc: OperationDoc): RequestDoc => ({
  parameters: parameterDocs(route.request, doc.path),
  body: doc.body ?? route.request.body
})

/** The document for `routes`. */
export const openApiDocument = (routes: ReadonlyArray<Route>, options: OpenApiOptions): Json => {
  // Made once: each parameter's Schema is a new object, which `jsonSchemas` knows by identity.
  const operations = routes.flatMap((route) =>
    route.docs.map((doc) => ({ route, doc, request: requestOf(route, doc) }))
  )
  const schemas = jsonSchemas(
    operations.flatMap(({ doc, request }) => [
      ...request.parameters.map((parameter) => parameter.schema),
      ...(request.body === undefined ? [] : [request.body]),
      ...Object.values(doc.responses).flatMap((response) => (response.schema === undefined ? [] : [response.schema]))
    ])
  )
  const response = (status: number, doc: ResponseDoc): Json => {
    const contentType = doc.contentType ?? (status >= 400 ? "application/problem+json" : "application/json")
    return doc.schema === undefined
      ? { description: doc.description }
      : { description: doc.description, content: { [contentType]: { schema: schemas.of(doc.schema) } } }
  }
  const paths: Record<string, Record<string, Json>> = {}
  for (const { route, doc, request } of operations) {
    const operation: Record<string, Json> = {
      operationId: doc.operationId,
      summary: doc.summary,
      tags: [doc.tag],
      responses: Object.fromEntries(
        Object.entries(doc.responses).map(([status, res]) => [status, response(Number(status), res)])
      )
    }
    if (request.parameters.length > 0) {
      operation.parameters = request.parameters.map((parameter) => ({
        name: parameter.name,
        in: parameter.in,
        required: parameter.required,
        ...(parameter.description === undefined ? {} : { description: parameter.description }),
        schema: schemas.of(parameter.schema)
      }))
    }
    if (request.body !== undefined) {
      operation.requestBody = {
        required: true,
        content: { "application/json": { schema: schemas.of(request.body) } }
      }
    }
    if (route.isPublic === true && options.hasBearerAuth) operation.security = []
    paths[doc.path] = { ...paths[doc.path], [route.method.toLowerCase()]: operation }
  }
  return {
    openapi: "3.1.0",
    info: { title: "Waypoint", version: "1", description: "Start, follow and cancel durable tasks." },
    servers: [{ url: options.serverUrl }],
    paths,
    components: {
      schemas: schemas.components as Json,
      ...(options.hasBearerAuth ? { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } } : {})
    },
    ...(options.hasBearerAuth ? { security: [{ bearer: [] }] } : {})
  }
}
