import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Schema, type Scope } from "effect"
import {
  Children,
  FileStorageBackend,
  MemoryStore,
  RunTree,
  Runtime,
  SnapshotStore,
  StateManager,
  StatePlugin,
  StorageBackend,
  step,
  TaskState,
  TreeCheckpoints,
  task
} from "../../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../../src/postgres.ts"
import * as TestDatabase from "../../stores/postgres/TestDatabase.ts"

const tempFolder = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "waypoint-tree-"))),
  (folder) => Effect.promise(() => fs.rm(folder, { recursive: true, force: true }))
)

/** Every store, with the StateManager's records kept by each kind of backend. */
const backends: ReadonlyArray<readonly [string, Layer.Layer<Layer.Success<typeof MemoryStore.layer>, unknown>]> = [
  ["memory", MemoryStore.layer],
  [
    "files",
    Layer.merge(
      MemoryStore.layer,
      Layer.unwrap(Effect.map(tempFolder, (directory) => FileStorageBackend.layer({ directory })))
    )
  ],
  ["PGlite", PgliteStore.layer({})],
  // a database of its own for each test, dropped after it
  ...(TestDatabase.noServer
    ? []
    : [
        [
          "the server",
          Layer.unwrap(Effect.map(TestDatabase.scoped(TestDatabase.adminUrl), (url) => PostgresStore.layer({ url })))
        ] as const
      ])
]

/** A supervisor with its researchers; the one on `slow` waits at `gate`; `ran` counts each topic's runs. */
const team = (gate: Deferred.Deferred<void>, ran = new Map<string, number>()) => {
  const count = (key: string) => Effect.sync(() => ran.set(key, (ran.get(key) ?? 0) + 1))
  const researcher = task({ name: "researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.gen(function* () {
      yield* count(topic)
      // recorded before the gate: a fork of a checkpoint taken at the gate does not run it again
      const pages = yield* step("read", Effect.as(count(`${topic}:read`), 3))
      const state = yield* TaskState
      const seen = yield* state.getOr("pages", 0)
      yield* state.set("pages", pages)
      if (topic === "slow") yield* Deferred.await(gate)
      return seen === 0 ? `notes on ${topic}` : `notes on ${topic} (resumed at ${seen} pages)`
    })
  )
  const supervisor = task(
    { name: "supervisor", input: Schema.Array(Schema.String), output: Schema.Array(Schema.String) },
    (topics) => Children.all(topics.map((topic) => Children.spec(researcher, topic, { key: topic })))
  )
  return { researcher, supervisor }
}

const until = <A, R>(read: Effect.Effect<A, unknown, R>, done: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2000; i++) {
      const value = yield* read
      if (done(value)) return value
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error("never reached"))
  })

for (const [name, stores] of backends) {
  describe(`TreeCheckpoints over ${name}`, () => {
    const withStores = <A, E>(
      effect: Effect.Effect<A, E, Layer.Success<typeof MemoryStore.layer> | StateManager | Scope.Scope>
    ) =>
      effect.pipe(
        // the runtime closes first, then its stores
        Effect.scoped,
        Effect.provide(StateManager.layer().pipe(Layer.provideMerge(stores)))
      ) as Effect.Effect<A, unknown>

    it.live("keeps named checkpoints of a live and of a finished tree, lists them by run, restores them to read", () =>
      withStores(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          const { researcher, supervisor } = team(gate)
          const runtime = yield* Runtime.make({ tasks: [researcher, supervisor], plugins: [StatePlugin.make()] })
          const handle = yield* runtime.submit(supervisor, ["fast", "slow"])
          yield* until(RunTree.read(handle.id), (tree) => tree.nodes[0]?.waitingFor?.remaining === 1)
          const live = yield* TreeCheckpoints.checkpoint(handle.id, "mid-research")
          yield* Deferred.succeed(gate, undefined)
          yield* handle.await
          // named so that two checkpoints of one millisecond still list in the order they were made
          const finished = yield* TreeCheckpoints.checkpoint(handle.id, "next-done")

          const listed = yield* TreeCheckpoints.list(handle.id)
          assert.deepStrictEqual(
            listed.map((info) => [info.id, info.name]),
            [
              [live, "mid-research"],
              [finished, "next-done"]
            ]
          )

          const atMid = yield* TreeCheckpoints.restore(live)
          assert.deepStrictEqual(
            atMid.tree.nodes.map((node) => [node.path, node.status]),
            [
              ["supervisor", "suspended"],
              ["supervisor/fast", "completed"],
              ["supervisor/slow", "running"]
            ]
          )
          assert.deepStrictEqual(atMid.branches.waiting, { supervisor: ["supervisor/slow"] })
          assert.deepStrictEqual(atMid.branches.results, {
            "supervisor/fast": { status: "completed", output: "notes on fast" }
          })
          assert.strictEqual(atMid.branches.sessionId, TreeCheckpoints.sessionOf(handle.id))
          assert.isString(atMid.branches.checksum)

          const atEnd = yield* TreeCheckpoints.restore(finished)
          assert.deepStrictEqual(atEnd.branches.completedBranches, ["supervisor", "supervisor/fast", "supervisor/slow"])
          assert.deepStrictEqual(atEnd.tree.nodes[0]?.output, ["notes on fast", "notes on slow"])
        })
      )
    )

    it.live("forks a tree from a checkpoint: completed branches kept, the others run again, inputs replaced", () =>
      withStores(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          const ran = new Map<string, number>()
          const { researcher, supervisor } = team(gate, ran)
          const runtime = yield* Runtime.make({ tasks: [researcher, supervisor], plugins: [StatePlugin.make()] })
          const handle = yield* runtime.submit(supervisor, ["fast", "wrong", "slow"])
          const mid = yield* until(RunTree.read(handle.id), (tree) => tree.nodes[0]?.waitingFor?.remaining === 1)
          // the slow researcher's newest snapshot at the checkpoint: its fork starts from it
          const snapshots = yield* SnapshotStore
          const slowId = mid.nodes.find((node) => node.path === "supervisor/slow")?.id as string
          yield* snapshots.save({ taskId: slowId, data: { read: 3 }, checkpoint: false })
          const checkpoint = yield* TreeCheckpoints.checkpoint(handle.id, "mid")
          yield* Deferred.succeed(gate, undefined)
          yield* handle.await

          const bad = yield* Effect.flip(TreeCheckpoints.fork(checkpoint, { replace: { "supervisor/nobody": "x" } }))
          assert.strictEqual(bad._tag, "ForkInvalid")

          const forkId = yield* TreeCheckpoints.fork(checkpoint, { replace: { "supervisor/wrong": "right" } })
          yield* runtime.resume(forkId)
          const output = yield* runtime.handle(supervisor, forkId).await
          // slow runs again from what it had recorded at the checkpoint: its step, and its state
          assert.deepStrictEqual(output, ["notes on fast", "notes on right", "notes on slow (resumed at 3 pages)"])
          // fast completed before the checkpoint: not run again; slow and the replaced branch ran again, and slow's
          // recorded step did not
          assert.deepStrictEqual(Object.fromEntries(ran), {
            fast: 1,
            "fast:read": 1,
            wrong: 1,
            "wrong:read": 1,
            slow: 2,
            "slow:read": 1,
            right: 1,
            "right:read": 1
          })

          const forked = yield* RunTree.read(forkId)
          const before = new Map(mid.nodes.map((node) => [node.path, node.id]))
          const was = (path: string) => before.get(path) as string
          assert.deepStrictEqual(
            forked.nodes.map((node) => [node.path, node.status, node.forkedFrom]),
            [
              ["supervisor", "completed", { taskId: handle.id, checkpointId: checkpoint }],
              ["supervisor/fast", "completed", { taskId: was("supervisor/fast"), checkpointId: checkpoint }],
              [
                "supervisor/wrong",
                "completed",
                { taskId: was("supervisor/wrong"), checkpointId: checkpoint, inputReplaced: true }
              ],
              ["supervisor/slow", "completed", { taskId: slowId, checkpointId: checkpoint }]
            ]
          )
          assert.strictEqual(forked.nodes[2]?.input, "right")
          const newSlow = forked.nodes[3]?.id as string
          const copied = yield* snapshots.latest(newSlow)
          assert.deepStrictEqual(
            Option.map(copied, (snapshot) => [snapshot.version, snapshot.data]),
            Option.some([1, { read: 3 }])
          )
        })
      )
    )

    it.live("keeps a checkpoint at every join with the atEveryJoin plugin", () =>
      withStores(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          const { researcher, supervisor } = team(gate)
          const runtime = yield* Runtime.make({
            tasks: [researcher, supervisor],
            plugins: [StatePlugin.make(), TreeCheckpoints.atEveryJoin()]
          })
          const handle = yield* runtime.submit(supervisor, ["fast", "slow"])
          const joins = yield* until(TreeCheckpoints.list(handle.id), (listed) => listed.length > 0)
          assert.deepStrictEqual(
            joins.map((info) => info.name),
            [`join-${handle.id}`]
          )
          const atJoin = yield* TreeCheckpoints.restore(joins[0]?.id as string)
          assert.strictEqual(atJoin.tree.nodes[0]?.status, "suspended")
          assert.deepStrictEqual(Object.keys(atJoin.branches.waiting), ["supervisor"])
          yield* Deferred.succeed(gate, undefined)
          yield* handle.await
          // the supervisor joined once: its run after the wait found every child ended
          assert.strictEqual((yield* TreeCheckpoints.list(handle.id)).length, 1)
        })
      )
    )

    it.live("fails with SnapshotCorrupted when a byte of a stored tree checkpoint changes, or it holds no tree", () =>
      withStores(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          yield* Deferred.succeed(gate, undefined)
          const { researcher, supervisor } = team(gate)
          const runtime = yield* Runtime.make({ tasks: [researcher, supervisor], plugins: [StatePlugin.make()] })
          const handle = yield* runtime.submit(supervisor, ["a", "b"])
          yield* handle.await
          const id = yield* TreeCheckpoints.checkpoint(handle.id, "whole")
          const backend = yield* StorageBackend
          const [key] = yield* backend.listKeys(`checkpoints/${TreeCheckpoints.sessionOf(handle.id)}/`)
          const stored = Option.getOrThrow(yield* backend.load(key as string))
          for (const at of [0, Math.floor(stored.length / 2), stored.length - 2]) {
            const flipped = stored.slice()
            flipped[at] = (flipped[at] as number) ^ 0x01
            yield* backend.save(key as string, flipped)
            const error = yield* Effect.flip(TreeCheckpoints.restore(id))
            assert.strictEqual(error._tag, "SnapshotCorrupted", `byte ${at}`)
          }
          // A checkpoint of a session that holds something else is not a tree.
          const manager = yield* StateManager
          yield* manager.saveSession("plain", { not: "a tree" })
          const plain = yield* manager.createCheckpoint("plain", "x")
          const error = yield* Effect.flip(TreeCheckpoints.restore(plain))
          assert.strictEqual(error._tag, "SnapshotCorrupted")
        })
      )
    )
  })
}
