import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { makeApp } from "../../src/http.ts"
import { Children, MemoryStore, Runtime, StateManager, task } from "../../src/index.ts"
import { dataOf, expectProblem, postJson, readJson, request, sseReader, withEveryStore } from "./fixtures.ts"

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
        // times as strings, and the child's key named as in a task's view
        assert.match(String(nodes[1]?.createdAt), /^\d{4}-\d\d-\d\dT/)
        assert.strictEqual(nodes[1]?.childKey, "leaf-0")
      })
    )
  )

  it.effect("keeps named checkpoints of a run's tree, lists them, and reads one back", () =>
    Effect.gen(function* () {
      const runtime = yield* Runtime.make({ tasks: [leaf, root] })
      const stateManager = yield* StateManager
      const app = yield* makeApp({ runtime, tasks: [leaf, root], stateManager })
      const handle = yield* runtime.submit(root, 2)
      yield* handle.await
      const created = yield* postJson(app, `/tasks/${handle.id}/tree/checkpoints`, { name: "done" })
      assert.strictEqual(created.status, 201)
      const { id } = yield* readJson(created)
      const listed = yield* readJson(yield* request(app, `/tasks/${handle.id}/tree/checkpoints`))
      assert.deepStrictEqual(
        (listed.items as ReadonlyArray<Record<string, unknown>>).map((item) => [item.id, item.name]),
        [[id, "done"]]
      )
      const kept = yield* readJson(yield* request(app, `/tasks/${handle.id}/tree/checkpoints/${String(id)}`))
      const tree = kept.tree as { nodes: ReadonlyArray<Record<string, unknown>> }
      assert.deepStrictEqual(
        tree.nodes.map((node) => node.path),
        ["root", "root/leaf-0", "root/leaf-1"]
      )
      const branches = kept.branches as Record<string, unknown>
      assert.deepStrictEqual(branches.completedBranches, ["root", "root/leaf-0", "root/leaf-1"])
      assert.isString(branches.checksum)
      // a new tree from it: the completed leaf kept, the replaced one run again with its new input
      const forked = yield* postJson(app, `/tasks/${handle.id}/tree/checkpoints/${String(id)}/fork`, {
        replace: { "root/leaf-1": 5 }
      })
      assert.strictEqual(forked.status, 201)
      const forkedRoot = yield* readJson(forked)
      assert.strictEqual(forked.headers.get("location"), `/tasks/${String(forkedRoot.id)}`)
      assert.deepStrictEqual(forkedRoot.forkedFrom, { taskId: handle.id, checkpointId: id })
      assert.deepStrictEqual(yield* runtime.handle(root, String(forkedRoot.id)).await, [0, 10])
      const forkedTree = yield* readJson(yield* request(app, `/tasks/${String(forkedRoot.id)}/tree`))
      assert.deepStrictEqual(
        (forkedTree.nodes as ReadonlyArray<Record<string, unknown>>).map((node) => [
          node.path,
          node.input,
          (node.forkedFrom as Record<string, unknown>).inputReplaced ?? false
        ]),
        [
          ["root", 2, false],
          ["root/leaf-0", 0, false],
          ["root/leaf-1", 5, true]
        ]
      )
      yield* expectProblem(
        yield* postJson(app, `/tasks/${handle.id}/tree/checkpoints/${String(id)}/fork`, {
          replace: { "root/nobody": 1 }
        }),
        400,
        "ForkInvalid"
      )
      // a checkpoint of another run is not this one's; a name that cannot be a key is refused
      const other = yield* runtime.submit(leaf, 1)
      yield* other.await
      yield* expectProblem(
        yield* request(app, `/tasks/${other.id}/tree/checkpoints/${String(id)}`),
        404,
        "CheckpointNotFound"
      )
      yield* expectProblem(
        yield* postJson(app, `/tasks/${handle.id}/tree/checkpoints`, { name: "a/b" }),
        400,
        "InvalidKey"
      )
    }).pipe(Effect.scoped, Effect.provide(StateManager.layer().pipe(Layer.provideMerge(MemoryStore.layer))))
  )

  it.effect("follows a run tree's events, resumed with Last-Event-ID, other tasks' left out", () =>
    withEveryStore(
      Effect.gen(function* () {
        const runtime = yield* Runtime.make({ tasks: [leaf, root] })
        const app = yield* makeApp({ runtime, tasks: [leaf, root] })
        const alone = yield* runtime.submit(leaf, 7)
        yield* alone.await
        const handle = yield* runtime.submit(root, 2)
        yield* handle.await
        const tree = yield* readJson(yield* request(app, `/tasks/${handle.id}/tree`))
        const ids = (tree.nodes as ReadonlyArray<Record<string, unknown>>).map((node) => node.id)
        const stream = sseReader(
          yield* request(app, `/tasks/${handle.id}/tree/events`, { headers: { "Last-Event-ID": "0" } })
        )
        const seen: Array<Record<string, unknown>> = []
        while (!seen.some((data) => data.taskId === handle.id && data.status === "completed")) {
          const frame = yield* stream.nextEvent
          if (frame === undefined) break
          seen.push(dataOf(frame))
        }
        assert.isTrue(
          seen.every((data) => ids.includes(data.taskId)),
          "only the tree's events"
        )
        assert.sameMembers(
          seen.filter((data) => data.status === "completed").map((data) => data.taskId),
          ids
        )
        yield* expectProblem(yield* request(app, "/tasks/nobody/tree/events"), 404, "TaskNotFound")
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
