import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import type { Hono } from "hono"
import { openApiDocument } from "../../src/http/openapi.ts"
import { digitsTo } from "../../src/http/request.ts"
import { defineRoute, json, type RouteContext } from "../../src/http/route.ts"
import { readJson, request, withApp } from "./fixtures.ts"

type Json = Record<string, unknown>

interface Parameter {
  readonly name: string
  readonly in: "path" | "query" | "header"
  readonly required: boolean
  readonly description?: string
  readonly schema: Json
}

interface Operation {
  readonly method: string
  readonly path: string
  readonly operationId: string
  readonly parameters: ReadonlyArray<Parameter>
  readonly hasBody: boolean
}

const operationsOf = (document: Json): Array<Operation> =>
  Object.entries(document.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      operationId: String(operation.operationId),
      parameters: (operation.parameters ?? []) as Array<Parameter>,
      hasBody: operation.requestBody !== undefined
    }))
  )

/**
 * Whether the text of a parameter stands for a value its documented JSON Schema accepts. Only the keywords the API
 * uses are known; another one fails the test, so that this check grows with the document.
 */
const conforms = (document: Json, schema: Json, text: string): boolean => {
  const ref = schema.$ref
  if (typeof ref === "string") {
    return conforms(document, (document.components as { schemas: Record<string, Json> }).schemas[ref.slice(21)]!, text)
  }
  const known = ["type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "description"]
  for (const key of Object.keys(schema)) assert.include(known, key, `a keyword this test cannot check: ${key}`)
  if (Array.isArray(schema.enum)) return schema.enum.includes(text)
  if (schema.type === "integer") {
    const value = Number(text)
    return (
      /^-?[0-9]+$/.test(text) &&
      Number.isSafeInteger(value) &&
      (schema.minimum === undefined || value >= Number(schema.minimum)) &&
      (schema.maximum === undefined || value <= Number(schema.maximum))
    )
  }
  assert.strictEqual(schema.type, "string", `a type this test cannot check: ${String(schema.type)}`)
  const length = Array.from(text).length
  return (
    (schema.minLength === undefined || length >= Number(schema.minLength)) &&
    (schema.maxLength === undefined || length <= Number(schema.maxLength)) &&
    (schema.pattern === undefined || new RegExp(String(schema.pattern), "u").test(text))
  )
}

/** Texts tried for every parameter: each is sent, and the document says whether it must be accepted. */
const candidates = [
  ...["x", "abc", "AbC-_09", "neutral", "YWJj", "!!", "a b", "%", "*", "\u00e9", "a\u0001b", "a\u0085b", ""],
  ...["pending", "completed", "RUNNING", "0", "1", "7", "1000", "1001", "-1", "1.5", "1e3", "0x10", " 1"],
  ...["9007199254740991", "9007199254740992", "x".repeat(255), "x".repeat(256), "x".repeat(1025)]
]

/** Whether `text` can be sent as written in this part of a request (a header is trimmed, a path segment not empty). */
const isSendable = (where: Parameter["in"], text: string) =>
  where === "header"
    ? /^([\u0021-\u007e]([\u0020-\u007e]*[\u0021-\u007e])?)?$/.test(text)
    : where === "query" || text !== ""

/** A valid body for each operation that reads one; the test fails for an operation it does not know. */
const bodies: Record<string, unknown> = {
  start_greet: { name: "Ada" },
  start_order: { sku: "a", quantity: 1 },
  signalTask: {},
  forkTask: { version: 1 },
  putSession: { a: 1 },
  createCheckpoint: { name: "c1" },
  createTreeCheckpoint: { name: "c1" },
  forkTree: {},
  decideApproval: { approved: true }
}

const send = (app: Hono, document: Json, operation: Operation, tried: Parameter, text: string) => {
  const value = (parameter: Parameter) =>
    parameter === tried ? text : (["neutral", "1"].find((t) => conforms(document, parameter.schema, t)) ?? "")
  let path = operation.path
  const query = new URLSearchParams()
  const headers: Record<string, string> = { "content-type": "application/json" }
  for (const parameter of operation.parameters) {
    if (parameter.in === "path") path = path.replace(`{${parameter.name}}`, encodeURIComponent(value(parameter)))
    else if (parameter === tried && parameter.in === "query") query.set(parameter.name, text)
    else if (parameter === tried) headers[parameter.name] = text
  }
  if (operation.hasBody) assert.property(bodies, operation.operationId, "no sample body for this operation")
  const search = query.size === 0 ? "" : `?${query}`
  return request(app, `${path}${search}`, {
    method: operation.method,
    headers,
    ...(operation.hasBody ? { body: JSON.stringify(bodies[operation.operationId]) } : {})
  })
}

describe("what a route decodes", () => {
  it.effect("is what the OpenAPI document says: every documented value is accepted, every other one is a 400", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const document = yield* readJson(yield* request(app, "/openapi.json"))
          const mismatches: Array<string> = []
          let tried = 0
          for (const operation of operationsOf(document)) {
            for (const parameter of operation.parameters) {
              for (const text of candidates.filter((t) => isSendable(parameter.in, t))) {
                const response = yield* send(app, document, operation, parameter, text)
                const isDocumented = conforms(document, parameter.schema, text)
                const isStream = response.headers.get("content-type")?.startsWith("text/event-stream") === true
                const answer = isStream ? "" : yield* Effect.promise(() => response.text())
                if (isStream) yield* Effect.promise(() => response.body!.cancel())
                const body = (answer === "" ? {} : JSON.parse(answer)) as Json
                const isRefused = response.status === 400 && body.tag === "InvalidRequest"
                tried++
                if (isDocumented === isRefused) {
                  mismatches.push(
                    `${operation.method} ${operation.path} ${parameter.name}=${JSON.stringify(text.slice(0, 20))}: ` +
                      `${isDocumented ? "documented" : "not documented"}, answered ${response.status}`
                  )
                }
              }
            }
          }
          assert.deepStrictEqual(mismatches.slice(0, 10), [])
          assert.isAbove(tried, 500)
        }),
      { everyStore: true }
    )
  )

  it.effect("documents each parameter with the constraints its handler checks, and every path parameter", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const document = yield* readJson(yield* request(app, "/openapi.json"))
        const operations = operationsOf(document)
        for (const operation of operations) {
          const templated = Array.from(operation.path.matchAll(/\{([^}]+)\}/g), (match) => match[1])
          const inPath = operation.parameters.filter((parameter) => parameter.in === "path")
          assert.deepStrictEqual(
            inPath.map((parameter) => parameter.name),
            templated,
            `${operation.method} ${operation.path}`
          )
          for (const parameter of operation.parameters) assert.isString(parameter.description, parameter.name)
        }
        const parameter = (operationId: string, name: string) =>
          operations
            .find((operation) => operation.operationId === operationId)
            ?.parameters.find((candidate) => candidate.name === name)
        assert.deepStrictEqual(parameter("listTasks", "cursor")?.schema, {
          type: "string",
          minLength: 1,
          maxLength: 8192,
          pattern: "^[A-Za-z0-9_-]+$"
        })
        assert.deepStrictEqual(parameter("listTasks", "limit")?.schema, { type: "integer", minimum: 1, maximum: 1000 })
        assert.deepInclude(parameter("listTasks", "limit") as object, { in: "query", required: false })
        assert.deepInclude(parameter("getSnapshot", "version")?.schema as object, { type: "integer", minimum: 1 })
        assert.deepInclude(parameter("events", "Last-Event-ID")?.schema as object, { type: "integer", minimum: 0 })
        assert.deepInclude(parameter("start_greet", "Idempotency-Key")?.schema as object, {
          maxLength: 255,
          pattern: "^[\\u0021-\\u007e]+$"
        })
        assert.deepInclude(parameter("signalTask", "name")?.schema as object, { minLength: 1, maxLength: 255 })
      })
    )
  )

  it("is derived from a route's Schemas: Type side, optionality and description of each field", () => {
    const ctx = { bodyLimitBytes: 1024 } as RouteContext
    const Body = Schema.Struct({ n: Schema.Int }).annotate({ identifier: "Body" })
    const route = defineRoute(ctx, {
      method: "POST",
      path: "/things/:id",
      request: {
        path: Schema.Struct({
          id: digitsTo(Schema.Int).annotateKey({ description: "The thing." })
        }),
        query: Schema.Struct({ q: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(3))) }),
        headers: Schema.Struct({ "X-Tag": Schema.Literals(["a", "b"]) }),
        body: Body
      },
      docs: [
        { path: "/things/{id}", operationId: "thing", summary: "", tag: "t", responses: {} },
        { path: "/things/one", operationId: "one", summary: "", tag: "t", body: Schema.String, responses: {} }
      ],
      handle: () => Effect.succeed(json(null))
    })
    const document = openApiDocument([route], { serverUrl: "/", hasBearerAuth: false }) as Json
    const safeInteger = { type: "integer", minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }
    const paths = document.paths as Record<string, { post: { parameters: unknown; requestBody: unknown } }>
    assert.deepStrictEqual(paths["/things/{id}"]?.post.parameters, [
      { name: "id", in: "path", required: true, description: "The thing.", schema: safeInteger },
      { name: "q", in: "query", required: false, schema: { type: "string", maxLength: 3 } },
      { name: "X-Tag", in: "header", required: true, schema: { type: "string", enum: ["a", "b"] } }
    ])
    assert.deepStrictEqual(paths["/things/{id}"]?.post.requestBody, {
      required: true,
      content: { "application/json": { schema: { $ref: "#/components/schemas/Body" } } }
    })
    // A path of its own: no `{id}` to document, and the body its operation names.
    assert.deepStrictEqual(
      ((paths["/things/one"]?.post.parameters ?? []) as Array<{ name: string }>).map((p) => p.name),
      ["q", "X-Tag"]
    )
    assert.deepStrictEqual(paths["/things/one"]?.post.requestBody, {
      required: true,
      content: { "application/json": { schema: { type: "string" } } }
    })
  })
})
