import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readJson, request, withApp } from "./fixtures.ts"

type Json = Record<string, unknown>

const at = (value: unknown, ...path: Array<string>): unknown =>
  path.reduce<unknown>((node, key) => (node as Json | undefined)?.[key], value)

/** Every `$ref` in the document points at a schema it defines. */
const danglingRefs = (document: Json): Array<string> => {
  const refs: Array<string> = []
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk)
    else if (node !== null && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "$ref" && typeof value === "string") refs.push(value)
        else walk(value)
      }
    }
  }
  walk(document)
  const schemas = at(document, "components", "schemas") as Json
  return refs.filter((ref) => !(ref.startsWith("#/components/schemas/") && ref.slice(21) in schemas))
}

describe("openapi.json", () => {
  it.effect("is an OpenAPI 3.1 document listing every route and each task's input Schema", () =>
    withApp(({ app }) =>
      Effect.gen(function* () {
        const response = yield* request(app, "/openapi.json")
        assert.strictEqual(response.status, 200)
        const document = yield* readJson(response)
        assert.strictEqual(document.openapi, "3.1.0")
        const paths = document.paths as Record<string, Json>
        const operations = Object.entries(paths).flatMap(([path, item]) =>
          Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`)
        )
        assert.sameMembers(operations, [
          "GET /health",
          "GET /openapi.json",
          "POST /tasks/greet",
          "POST /tasks/order",
          "GET /tasks",
          "GET /tasks/{id}",
          "POST /tasks/{id}/cancel",
          "GET /tasks/{id}/events",
          "GET /events",
          "POST /tasks/{id}/pause",
          "POST /tasks/{id}/resume",
          "POST /tasks/{id}/signals/{name}",
          "GET /tasks/{id}/state",
          "GET /tasks/{id}/snapshots",
          "GET /tasks/{id}/snapshots/{version}",
          "POST /tasks/{id}/fork",
          "GET /tasks/{id}/tree",
          "POST /tasks/{id}/tree/checkpoints",
          "GET /tasks/{id}/tree/checkpoints",
          "GET /tasks/{id}/tree/checkpoints/{checkpointId}",
          "POST /tasks/{id}/tree/checkpoints/{checkpointId}/fork",
          "GET /tasks/{id}/tree/events",
          "GET /tasks/{id}/usage",
          "GET /tasks/{id}/logs",
          "GET /tasks/{id}/tree/usage",
          "GET /tasks/{id}/approvals",
          "GET /tasks/{id}/tree/approvals",
          "POST /tasks/{id}/approvals/{approvalId}",
          "GET /sessions",
          "GET /sessions/{id}",
          "PUT /sessions/{id}",
          "DELETE /sessions/{id}",
          "GET /sessions/{id}/checkpoints",
          "POST /sessions/{id}/checkpoints",
          "POST /checkpoints/{id}/restore"
        ])
        const operationIds = Object.values(paths).flatMap((item) =>
          Object.values(item).map((operation) => (operation as Json).operationId)
        )
        assert.strictEqual(new Set(operationIds).size, operationIds.length)

        // The task's input Schema, as JSON Schema: properties, required keys, checks.
        const greetBody = at(paths, "/tasks/greet", "post", "requestBody", "content", "application/json", "schema")
        assert.deepStrictEqual(at(greetBody, "properties", "name"), { type: "string" })
        assert.deepStrictEqual(at(greetBody, "required"), ["name"])
        const orderBody = at(paths, "/tasks/order", "post", "requestBody", "content", "application/json", "schema")
        assert.deepStrictEqual(orderBody, { $ref: "#/components/schemas/OrderInput" })
        const orderInput = at(document, "components", "schemas", "OrderInput")
        assert.strictEqual(at(orderInput, "properties", "quantity", "type"), "integer")
        assert.sameMembers(at(orderInput, "required") as Array<string>, ["sku", "quantity"])

        const created = at(paths, "/tasks/greet", "post", "responses", "201", "content", "application/json", "schema")
        assert.deepStrictEqual(created, { $ref: "#/components/schemas/Task" })
        const notFound = at(paths, "/tasks/{id}", "get", "responses", "404", "content", "application/problem+json")
        assert.deepStrictEqual(notFound, { schema: { $ref: "#/components/schemas/Problem" } })
        const events = at(paths, "/events", "get", "responses", "200", "content", "text/event-stream", "schema")
        assert.deepStrictEqual(events, { $ref: "#/components/schemas/TaskEvent" })
        for (const name of [
          "Task",
          "TaskPage",
          "Problem",
          "TaskEvent",
          "StatusChanged",
          "Health",
          "Progress",
          "TaskState",
          "Snapshot",
          "SnapshotPage",
          "SnapshotSummary",
          "ForkRequest",
          "Session",
          "SessionList",
          "Checkpoint",
          "CheckpointList",
          "CheckpointRequest",
          "CheckpointCreated",
          "Restored",
          "UsageTotals",
          "TreeUsage",
          "PendingApproval",
          "PendingApprovalList",
          "ApprovalDecision"
        ]) {
          assert.property(at(document, "components", "schemas"), name)
        }
        const forkBody = at(paths, "/tasks/{id}/fork", "post", "requestBody", "content", "application/json", "schema")
        assert.deepStrictEqual(forkBody, { $ref: "#/components/schemas/ForkRequest" })
        assert.deepStrictEqual(Object.keys(at(paths, "/tasks/{id}/signals/{name}", "post", "responses") as Json), [
          "202",
          "400",
          "404",
          "409",
          "413",
          "415"
        ])
        // Built without a StateStore, SnapshotStore, RunTreeStore or StateManager: their routes document the 501.
        for (const [path, method] of [
          ["/tasks/{id}/state", "get"],
          ["/tasks/{id}/snapshots", "get"],
          ["/tasks/{id}/fork", "post"],
          ["/tasks/{id}/tree", "get"],
          ["/tasks/{id}/tree/checkpoints", "post"],
          ["/tasks/{id}/usage", "get"],
          ["/tasks/{id}/tree/approvals", "get"],
          ["/tasks/{id}/approvals/{approvalId}", "post"],
          ["/sessions", "get"],
          ["/checkpoints/{id}/restore", "post"]
        ] as const) {
          assert.property(at(paths, path, method, "responses"), "501", path)
        }
        assert.deepStrictEqual(danglingRefs(document), [])
        assert.notProperty(document, "security")
      })
    )
  )

  it.effect("documents no 501 where the service is present", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const document = yield* readJson(yield* request(app, "/openapi.json"))
          const responses = Object.values(document.paths as Record<string, Json>).flatMap((item) =>
            Object.values(item).map((operation) => (operation as Json).responses as Json)
          )
          assert.isTrue(responses.every((byStatus) => !("501" in byStatus)))
          assert.deepStrictEqual(danglingRefs(document), [])
        }),
      { everyStore: true }
    )
  )

  it.effect("describes bearer auth, and /health as open, when a token is configured", () =>
    withApp(
      ({ app }) =>
        Effect.gen(function* () {
          const document = yield* readJson(
            yield* request(app, "/openapi.json", { headers: { authorization: "Bearer t0ken-t0ken-t0ken" } })
          )
          assert.deepStrictEqual(document.security, [{ bearer: [] }])
          assert.deepStrictEqual(at(document, "components", "securitySchemes", "bearer"), {
            type: "http",
            scheme: "bearer"
          })
          assert.deepStrictEqual(at(document, "paths", "/health", "get", "security"), [])
          assert.property(at(document, "paths", "/tasks", "get", "responses"), "401")
        }),
      { auth: { bearer: "t0ken-t0ken-t0ken" } }
    )
  )
})
