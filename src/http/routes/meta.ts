/**
 * About the API itself: `/health` (answered without credentials, for probes) and `/openapi.json`.
 */
import { Effect, Schema } from "effect"
import type { Context } from "hono"
import { openApiDocument } from "../openapi.ts"
import { json, type Route, type RouteContext, unauthorizedDoc } from "../route.ts"
import { HealthView } from "../schema.ts"

const OpenApiView = Schema.Record(Schema.String, Schema.Json).annotate({ description: "An OpenAPI 3.1 document." })

export const metaRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  // One document per prefix the app is reached under; in practice one.
  const documents = new Map<string, string>()
  const openApi = (c: Context) =>
    Effect.sync(() => {
      // Mounted under a prefix (`parent.route("/waypoint", app)`), the paths are relative to that prefix.
      const prefix = c.req.path.slice(0, -"/openapi.json".length) || "/"
      let document = documents.get(prefix)
      if (document === undefined) {
        document = JSON.stringify(openApiDocument(ctx.routes(), { serverUrl: prefix, hasBearerAuth: ctx.isBearerAuth }))
        if (documents.size < 16) documents.set(prefix, document)
      }
      return new Response(document, { headers: { "content-type": "application/json" } })
    })

  return [
    {
      method: "GET",
      path: "/health",
      isPublic: true,
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
    },
    {
      method: "GET",
      path: "/openapi.json",
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
    }
  ]
}
