/**
 * About the API itself: `/health` (answered without credentials, for probes) and `/openapi.json`.
 */
import { Effect, Schema } from "effect"
import { openApiDocument } from "../openapi.ts"
import type { RequestInput, RequestSchemas } from "../request.ts"
import { defineRoute, json, type Route, type RouteContext, unauthorizedDoc } from "../route.ts"
import { HealthView } from "../schema.ts"

const OpenApiView = Schema.Record(Schema.String, Schema.Json).annotate({ description: "An OpenAPI 3.1 document." })

export const metaRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  // One document per prefix the app is reached under; in practice one.
  const documents = new Map<string, string>()
  const openApi = (input: RequestInput<RequestSchemas>) =>
    Effect.sync(() => {
      // Mounted under a prefix (`parent.route("/waypoint", app)`), the paths are relative to that prefix.
      const prefix = new URL(input.raw.url).pathname.slice(0, -"/openapi.json".length) || "/"
      let document = documents.get(prefix)
      if (document === undefined) {
        document = JSON.stringify(openApiDocument(ctx.routes(), { serverUrl: prefix, hasBearerAuth: ctx.isBearerAuth }))
        if (documents.size < 16) documents.set(prefix, document)
      }
      return new Response(document, { headers: { "content-type": "application/json" } })
    })

  return [
    defineRoute(ctx, {
      method: "GET",
      path: "/health",
      isPublic: true,
      request: {},
      docs: [
        {
          path: "/health",
          operationId: "health",
          summary: "Tell whether the server answers",
          tag: "meta",
          responses: { 200: { description: "The server answers.", schema: HealthView } }
        }
      ],
      handle: () => Effect.succeed(json({ status: "ok" }))
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/openapi.json",
      request: {},
      docs: [
        {
          path: "/openapi.json",
          operationId: "openApi",
          summary: "This document",
          tag: "meta",
          responses: {
            200: { description: "The OpenAPI 3.1 document of this API.", schema: OpenApiView },
            ...unauthorizedDoc(ctx)
          }
        }
      ],
      handle: openApi
    })
  ]
}
