import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readJson, request, withApp } from "./fixtures.ts"

const token = "dashboard-test-token-0123456789"

const textOf = (response: Response) => Effect.promise(() => response.text())

describe("HTTP: the dashboard at /ui", () => {
  it.effect("serves the page, its script and its style under a strict CSP, without credentials when auth is on", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const files: ReadonlyArray<readonly [string, string, RegExp]> = [
            ["/ui", "text/html; charset=utf-8", /<script type="module" src="ui\/dashboard\.js">/],
            ["/ui/dashboard.js", "text/javascript; charset=utf-8", /new URL\("\.\.", import\.meta\.url\)/],
            ["/ui/dashboard.css", "text/css; charset=utf-8", /\[hidden\]/]
          ]
          for (const [path, contentType, body] of files) {
            const response = yield* request(app, path)
            assert.strictEqual(response.status, 200, path)
            assert.strictEqual(response.headers.get("content-type"), contentType)
            const csp = response.headers.get("content-security-policy") ?? ""
            for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'"]) {
              assert.include(csp, directive)
            }
            assert.notInclude(csp, "unsafe-inline")
            assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
            assert.match(yield* textOf(response), body)
          }
          // `/ui/` sends the browser to the page, relative to where the app is mounted
          const slash = yield* request(app, "/ui/")
          assert.deepStrictEqual([slash.status, slash.headers.get("location")], [308, "../ui"])
          // the page's data stays behind the token
          assert.strictEqual((yield* request(app, "/tasks")).status, 401)
          assert.strictEqual((yield* request(app, "/events")).status, 401)
        }),
      { auth: { bearer: token } }
    )
  )

  it.effect("keeps no inline script or style, which its CSP would block", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const page = yield* textOf(yield* request(app, "/ui"))
        assert.notMatch(page, /<script(?![^>]*\bsrc=)[^>]*>/)
        assert.notMatch(page, /<style|\sstyle=|\son[a-z]+=/)
      })
    )
  )

  it.effect("answers 405 to other methods, and is gone with dashboard: false", () =>
    Effect.gen(function* () {
      yield* withApp(({ app }) =>
        Effect.gen(function* () {
          const posted = yield* request(app, "/ui", { method: "POST" })
          assert.strictEqual(posted.status, 405)
          assert.strictEqual(posted.headers.get("allow"), "GET, HEAD")
          const head = yield* request(app, "/ui", { method: "HEAD" })
          assert.strictEqual(head.status, 200)
          assert.strictEqual(head.headers.get("content-type"), "text/html; charset=utf-8")
          assert.strictEqual(yield* textOf(head), "")
        })
      )
      yield* withApp(
        ({ app }) =>
          Effect.gen(function* () {
            for (const path of ["/ui", "/ui/dashboard.js", "/ui/dashboard.css"]) {
              assert.strictEqual((yield* request(app, path)).status, 404, path)
            }
            assert.strictEqual((yield* request(app, "/health")).status, 200)
          }),
        { dashboard: false }
      )
    })
  )

  it.effect("leaves the dashboard out of the OpenAPI document", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const document = yield* readJson(yield* request(app, "/openapi.json"))
        assert.isFalse(Object.keys(document.paths as object).some((path) => path.startsWith("/ui")))
      })
    )
  )
})
