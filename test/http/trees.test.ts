import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { makeApp } from "../../src/http.ts"
import { Children, Runtime, task } from "../../src/index.ts"
import { expectProblem, readJson, request, withEveryStore } from "./fixtures.ts"

const leaf = task({ name: "leaf", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n * 2))
const root = task({ name: "root", input: Schema.Number, output: Schema.Array(Schema.Number) }, (n) =>
  Children.all(Array.from({ length: n }, (_, i) => Children.spec(leaf, i, { key: `leaf-${i}` })))
)

describe("HTTP: GET /tasks/{id}/tree", () => {
  it.effect("answers a run's tree by key path, root first, each task with its status and result", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ tasks: [leaf, root] })
        const app = yield* makeApp({ runtime, tasks: [leaf, root] })
        const handle = yield* runtime.submit(root, 2)
        yield* handle.await
        const response = yield* request(app, `/tasks/${handle.id}/tree`)
        assert.strictEqual(response.status, 200)
        const tree = yield* readJson(response)
        const nodes = tree.nodes as ReadonlyArray<Record<string, unknown>>
        assert.strictEqual(tree.rootId, handle.id)
        assert.deepStrictEqual(
          nodes.map((node) => [node.path, node.status, node.output]),
          [
            ["root", "completed", [0, 2]],
            ["root/leaf-0", "completed", 0],
            ["root/leaf-1", "completed", 2]
          ]
        )
        assert.deepStrictEqual(
          nodes[0]?.children,
          nodes.slice(1).map((node) => node.id)
        )
      })
    )
  )

  it.effect("answers 404 for an unknown task", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ tasks: [leaf] })
        const app = yield* makeApp({ runtime, tasks: [leaf] })
        yield* expectProblem(yield* request(app, "/tasks/nobody/tree"), 404, "TaskNotFound")
      })
    )
  )
})
