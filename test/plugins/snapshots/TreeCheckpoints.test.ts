import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Schema, type Scope } from "effect"
import { TestClock } from "effect/testing"
import {
  Children,
  FileStorageBackend,
  MemoryStore,
  RunTree,
  Runtime,
  StateManager,
  StorageBackend,
  TreeCheckpoints,
  task
} from "../../../src/index.ts"
import { PgliteStore } from "../../../src/postgres.ts"

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
  ["PGlite", PgliteStore.layer({})]
]

/** A supervisor with two researchers; the one on `slow` waits at `gate`. */
const team = (gate: Deferred.Deferred<void>) => {
  const researcher = task({ name: "researcher", input: Schema.String, output: Schema.String }, (topic) =>
    Effect.as(topic === "slow" ? Deferred.await(gate) : Effect.void, `notes on ${topic}`)
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

    it.effect(
      "keeps named checkpoints of a live and of a finished tree, lists them by run, restores them to read",
      () =>
        withStores(
          Effect.gen(function* () {
            const gate = yield* Deferred.make<void>()
            const { researcher, supervisor } = team(gate)
            const runtime = yield* Runtime.make({ tasks: [researcher, supervisor] })
            const handle = yield* runtime.submit(supervisor, ["fast", "slow"])
            yield* until(RunTree.read(handle.id), (tree) => tree.nodes[0]?.waitingFor?.remaining === 1)
            const live = yield* TreeCheckpoints.checkpoint(handle.id, "mid-research")
            yield* Deferred.succeed(gate, undefined)
            yield* handle.await
            yield* TestClock.adjust("1 second")
            const finished = yield* TreeCheckpoints.checkpoint(handle.id, "done")

            const listed = yield* TreeCheckpoints.list(handle.id)
            assert.deepStrictEqual(
              listed.map((info) => [info.id, info.name]),
              [
                [live, "mid-research"],
                [finished, "done"]
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
            assert.deepStrictEqual(atEnd.branches.completedBranches, [
              "supervisor",
              "supervisor/fast",
              "supervisor/slow"
            ])
            assert.deepStrictEqual(atEnd.tree.nodes[0]?.output, ["notes on fast", "notes on slow"])
          })
        )
    )

    it.effect("fails with SnapshotCorrupted when a byte of a stored tree checkpoint changes, or it holds no tree", () =>
      withStores(
        Effect.gen(function* () {
          const gate = yield* Deferred.make<void>()
          yield* Deferred.succeed(gate, undefined)
          const { researcher, supervisor } = team(gate)
          const runtime = yield* Runtime.make({ tasks: [researcher, supervisor] })
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
