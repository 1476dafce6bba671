import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Schema, Stream } from "effect"
import {
  Children,
  MemoryStorageBackend,
  MemoryStore,
  RunTree,
  Runtime,
  StateManager,
  type TaskEvent,
  TaskNotFound,
  TreeCheckpoints,
  task
} from "../../src/index.ts"

/** Gates the agents wait at, by input. */
const makeGates = () => new Map<string, Deferred.Deferred<void>>()

const gateOf = (gates: Map<string, Deferred.Deferred<void>>, name: string) => {
  let gate = gates.get(name)
  if (gate === undefined) {
    gate = Deferred.makeUnsafe<void>()
    gates.set(name, gate)
  }
  return gate
}

/**
 * A supervisor that fans out three researchers; the first starts a sub-researcher of its own. Researchers whose topic
 * is gated wait at their gate.
 */
const agents = (gates: Map<string, Deferred.Deferred<void>>) => {
  const sub = task({ name: "sub-researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.as(Deferred.await(gateOf(gates, `sub:${topic}`)), `notes on ${topic}`)
  )
  const researcher = task({ name: "researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.gen(function* () {
      if (topic === "ships") {
        const notes = yield* Children.all([Children.spec(sub, topic, { key: "sub" })])
        return `${topic}: ${notes.join(", ")}`
      }
      if (gates.has(topic)) yield* Deferred.await(gateOf(gates, topic))
      return `${topic}: done`
    })
  )
  const supervisor = task(
    { name: "supervisor", input: Schema.Array(Schema.String), output: Schema.Array(Schema.String) },
    (topics) =>
      Effect.andThen(
        gates.has("plan") ? Deferred.await(gateOf(gates, "plan")) : Effect.void,
        Children.all(topics.map((topic) => Children.spec(researcher, topic, { key: topic })))
      )
  )
  return { sub, researcher, supervisor }
}

/** Reads the tree until `done` holds of it (the agents run in fibers of their own). */
const treeWhen = (rootId: string, done: (tree: RunTree.RunTree) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      const tree = yield* RunTree.read(rootId)
      if (done(tree)) return tree
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error("the tree never reached the state waited for"))
  })

const byPath = (tree: RunTree.RunTree) => new Map(tree.nodes.map((node) => [node.path, node]))

describe("RunTree", () => {
  it.effect("reads a run's tree by key path, with each agent's status, wait and result", () =>
    Effect.gen(function* () {
      const gates = makeGates()
      gateOf(gates, "sub:ships")
      gateOf(gates, "ports")
      const { sub, researcher, supervisor } = agents(gates)
      const runtime = yield* Runtime.make({ tasks: [sub, researcher, supervisor] })
      const handle = yield* runtime.submit(supervisor, ["ships", "ports", "tides/currents"])
      const tree = yield* treeWhen(handle.id, (t) => {
        const nodes = byPath(t)
        return (
          nodes.get("supervisor")?.status === "suspended" &&
          nodes.get("supervisor/ships")?.status === "suspended" &&
          nodes.get("supervisor/ships/sub")?.status === "running" &&
          nodes.get("supervisor/ports")?.status === "running" &&
          nodes.get("supervisor/tides%2Fcurrents")?.status === "completed"
        )
      })
      // depth first, siblings in creation order; a key holding "/" is escaped in its path
      assert.deepStrictEqual(
        tree.nodes.map((node) => [node.path, node.depth, node.name]),
        [
          ["supervisor", 0, "supervisor"],
          ["supervisor/ships", 1, "researcher"],
          ["supervisor/ships/sub", 2, "sub-researcher"],
          ["supervisor/ports", 1, "researcher"],
          ["supervisor/tides%2Fcurrents", 1, "researcher"]
        ]
      )
      const nodes = byPath(tree)
      const id = (path: string) => nodes.get(path)?.id as string
      assert.strictEqual(tree.rootId, handle.id)
      assert.deepStrictEqual(nodes.get("supervisor")?.children, [
        id("supervisor/ships"),
        id("supervisor/ports"),
        id("supervisor/tides%2Fcurrents")
      ])
      assert.deepStrictEqual(nodes.get("supervisor")?.waitingFor, {
        mode: "all",
        total: 3,
        remaining: 2,
        running: [id("supervisor/ships"), id("supervisor/ports")]
      })
      assert.deepStrictEqual(nodes.get("supervisor/ships")?.waitingFor?.running, [id("supervisor/ships/sub")])
      assert.strictEqual(nodes.get("supervisor/ships/sub")?.parentId, id("supervisor/ships"))
      assert.strictEqual(nodes.get("supervisor/tides%2Fcurrents")?.childKey, "tides/currents")
      assert.strictEqual(nodes.get("supervisor/tides%2Fcurrents")?.output, "tides/currents: done")
      assert.isUndefined(nodes.get("supervisor")?.parentId)

      // Its branch snapshot: every field from the tree.
      const snapshot = TreeCheckpoints.branchSnapshot(tree, { metadata: { plan: "v1" } })
      assert.deepStrictEqual(
        Object.keys(snapshot.branches),
        tree.nodes.map((node) => node.path)
      )
      assert.deepStrictEqual(snapshot.branches["supervisor/ports"], {
        id: id("supervisor/ports"),
        name: "researcher",
        status: "running",
        attempt: 1
      })
      assert.deepStrictEqual(snapshot.activeBranches, ["supervisor/ships/sub", "supervisor/ports"])
      assert.deepStrictEqual(snapshot.completedBranches, ["supervisor/tides%2Fcurrents"])
      assert.deepStrictEqual(snapshot.waiting, {
        supervisor: ["supervisor/ships", "supervisor/ports"],
        "supervisor/ships": ["supervisor/ships/sub"]
      })
      assert.deepStrictEqual(snapshot.results, {
        "supervisor/tides%2Fcurrents": { status: "completed", output: "tides/currents: done" }
      })
      assert.deepStrictEqual(snapshot.children, {
        supervisor: ["supervisor/ships", "supervisor/ports", "supervisor/tides%2Fcurrents"],
        "supervisor/ships": ["supervisor/ships/sub"]
      })
      assert.deepStrictEqual(snapshot.parents, {
        "supervisor/ships": "supervisor",
        "supervisor/ships/sub": "supervisor/ships",
        "supervisor/ports": "supervisor",
        "supervisor/tides%2Fcurrents": "supervisor"
      })
      assert.deepStrictEqual(snapshot.metadata, { rootId: handle.id, rootName: "supervisor", plan: "v1" })
      assert.strictEqual(snapshot.sessionId, handle.id)

      // Saved through a StateManager, it loads back whole, its checksum verified.
      const states = yield* StateManager
      const saved = yield* states.saveBranchSnapshot(snapshot)
      assert.deepStrictEqual(Option.getOrThrow(yield* states.loadBranchSnapshot(handle.id)), saved)

      // The agents go on; the finished tree has every result.
      yield* Deferred.succeed(gateOf(gates, "sub:ships"), undefined)
      yield* Deferred.succeed(gateOf(gates, "ports"), undefined)
      assert.deepStrictEqual(yield* handle.await, ["ships: notes on ships", "ports: done", "tides/currents: done"])
      const finished = TreeCheckpoints.branchSnapshot(yield* RunTree.read(handle.id))
      assert.deepStrictEqual(finished.activeBranches, [])
      assert.deepStrictEqual(finished.waiting, {})
      assert.deepStrictEqual(
        finished.completedBranches,
        tree.nodes.map((node) => node.path)
      )
      assert.deepStrictEqual(finished.results.supervisor, {
        status: "completed",
        output: ["ships: notes on ships", "ports: done", "tides/currents: done"]
      })
    }).pipe(
      Effect.provide(
        Layer.merge(MemoryStore.layer, StateManager.layer().pipe(Layer.provide(MemoryStorageBackend.layer)))
      )
    )
  )

  it.effect("follows the events of a whole tree, children started later too, and resumes after a sequence number", () =>
    Effect.gen(function* () {
      const gates = makeGates()
      gateOf(gates, "ports")
      // the supervisor starts its researchers once the stream is followed
      gateOf(gates, "plan")
      const { sub, researcher, supervisor } = agents(gates)
      const runtime = yield* Runtime.make({ tasks: [sub, researcher, supervisor] })
      const handle = yield* runtime.submit(supervisor, ["ships", "ports"])
      const isRootEnd = (event: TaskEvent) =>
        event._tag === "StatusChanged" && event.taskId === handle.id && event.status === "completed"
      // subscribed before any child exists: each joins the stream by its first event
      const following = yield* Effect.forkChild(
        Stream.runCollect(runtime.subscribeTree(handle.id).pipe(Stream.takeUntil(isRootEnd)))
      )
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      yield* Deferred.succeed(gateOf(gates, "plan"), undefined)
      // another run's events are not the tree's
      const other = yield* runtime.submit(researcher, "elsewhere")
      yield* other.await
      yield* Deferred.succeed(gateOf(gates, "sub:ships"), undefined)
      yield* Deferred.succeed(gateOf(gates, "ports"), undefined)
      yield* handle.await
      const events = yield* Fiber.join(following)
      const tree = yield* RunTree.read(handle.id)
      const ids = new Set(tree.nodes.map((node) => node.id))
      assert.isTrue(
        events.every((event) => ids.has(event.taskId)),
        "only the tree's events"
      )
      const ended = events.filter((event) => event._tag === "StatusChanged" && event.status === "completed")
      assert.sameMembers(
        ended.map((event) => event.taskId),
        [...ids]
      )
      // resumed after the third event: the same events from there on, from the runtime's history
      const after = (events[2] as TaskEvent).seq
      const resumed = yield* Stream.runCollect(
        runtime.subscribeTree(handle.id, { after }).pipe(Stream.takeUntil(isRootEnd))
      )
      assert.deepStrictEqual(
        resumed.map((event) => event.seq),
        events.filter((event) => event.seq > after).map((event) => event.seq)
      )
      const missing = yield* Effect.flip(Stream.runCollect(runtime.subscribeTree("missing")))
      assert.instanceOf(missing, TaskNotFound)
    }).pipe(Effect.provide(MemoryStore.layer))
  )

  it.effect("fails with TaskNotFound for an id no task has", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(RunTree.read("missing"))
      assert.instanceOf(error, TaskNotFound)
    }).pipe(Effect.provide(MemoryStore.layer))
  )
})
