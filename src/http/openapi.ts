/**
 * The OpenAPI 3.1 document of an app, written from its routes: each route's operations, and JSON Schemas generated
 * from the same Effect Schemas that decode requests (each task's input) and type the answers.
 */
import { JsonSchema, Schema, type SchemaAST, SchemaRepresentation } from "effect"
import type { ResponseDoc, Route } from "./route.ts"

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

const schemasOf = (routes: ReadonlyArray<Route>): Array<Schema.Top> =>
  routes.flatMap((route) =>
    route.docs.flatMap((doc) => [
      ...(doc.parameters ?? []).map((parameter) => parameter.schema),
      ...(doc.requestBody === undefined ? [] : [doc.requestBody]),
      ...Object.values(doc.responses).flatMap((response) => (response.schema === undefined ? [] : [response.schema]))
    ])
  )

/** The document for `routes`. */
export const openApiDocument = (routes: ReadonlyArray<Route>, options: OpenApiOptions): Json => {
  const schemas = jsonSchemas(schemasOf(routes))
  const response = (status: number, doc: ResponseDoc): Json => {
    const contentType = doc.contentType ?? (status >= 400 ? "application/problem+json" : "application/json")
    return doc.schema === undefined
      ? { description: doc.description }
      : { description: doc.description, content: { [contentType]: { schema: schemas.of(doc.schema) } } }
  }
  const paths: Record<string, Record<string, Json>> = {}
  for (const route of routes) {
    for (const doc of route.docs) {
      const operation: Record<string, Json> = {
        operationId: doc.operationId,
        summary: doc.summary,
        tags: [doc.tag],
        responses: Object.fromEntries(
          Object.entries(doc.responses).map(([status, res]) => [status, response(Number(status), res)])
        )
      }
      if (doc.parameters !== undefined && doc.parameters.length > 0) {
        operation.parameters = doc.parameters.map((parameter) => ({
          name: parameter.name,
          in: parameter.in,
          required: parameter.required,
          description: parameter.description,
          schema: schemas.of(parameter.schema)
        }))
      }
      if (doc.requestBody !== undefined) {
        operation.requestBody = {
          required: true,
          content: { "application/json": { schema: schemas.of(doc.requestBody) } }
        }
      }
      if (route.isPublic === true && options.hasBearerAuth) operation.security = []
      paths[doc.path] = { ...paths[doc.path], [route.method.toLowerCase()]: operation }
    }
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
