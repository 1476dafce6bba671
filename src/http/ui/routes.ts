/**
 * The live dashboard: `/ui` and the two files it loads. They are answered without credentials, as they hold no data
 * (the page asks for a token when the API wants one), and under a Content-Security-Policy that lets the page load,
 * fetch and be framed from nothing but its own origin, and write to the DOM only as text (Trusted Types).
 */
import { Effect } from "effect"
import { defineRoute, type Route, type RouteContext } from "../route.ts"
import { dashboardPage } from "./page.ts"
import { dashboardScript } from "./script.ts"
import { dashboardStyle } from "./style.ts"

/** The policy every dashboard file is served with. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'"
].join("; ")

const serve = (body: string, contentType: string) => () =>
  Effect.sync(
    () =>
      new Response(body, {
        headers: {
          "content-type": contentType,
          "content-security-policy": DASHBOARD_CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          // the files change with the package: always revalidated, never stale after an upgrade
          "cache-control": "no-cache"
        }
      })
  )

const file = (ctx: RouteContext, path: string, body: string, contentType: string): Route =>
  defineRoute(ctx, { method: "GET", path, isPublic: true, request: {}, docs: [], handle: serve(body, contentType) })

/** Not in the OpenAPI document: they are a page for people, not part of the API. */
export const dashboardRoutes = (ctx: RouteContext): ReadonlyArray<Route> => [
  file(ctx, "/ui", dashboardPage, "text/html; charset=utf-8"),
  // The page loads its files relative to `/ui`: `/ui/` sends the browser there (relative, so under any prefix).
  defineRoute(ctx, {
    method: "GET",
    path: "/ui/",
    isPublic: true,
    request: {},
    docs: [],
    handle: () => Effect.sync(() => new Response(null, { status: 308, headers: { location: "../ui" } }))
  }),
  file(ctx, "/ui/dashboard.js", dashboardScript, "text/javascript; charset=utf-8"),
  file(ctx, "/ui/dashboard.css", dashboardStyle, "text/css; charset=utf-8")
]
