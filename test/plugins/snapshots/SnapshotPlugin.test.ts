import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as SnapshotPlugin from "../../../src/plugins/snapshots/SnapshotPlugin.ts"
import { Snapshots } from "../../../src/plugins/snapshots/Snapshots.ts"
import * as Runtime from "../../../src/runtime/Runtime.ts"
import { suspend } from "../../../src/runtime/Suspension.ts"
import { task } from "../../../src/runtime/Task.ts"
import { TaskInfo } from "../../../src/runtime/TaskInfo.ts"
import * as MemorySnapshotStore from "../../../src/stores/memory/MemorySnapshotStore.ts"
import * as MemoryTaskStore from "../../../src/stores/memory/MemoryTaskStore.ts"
import { SnapshotStore } from "../../../src/stores/SnapshotStore.ts"

const Stores = Layer.mergeAll(MemoryTaskStore.layer, MemorySnapshotStore.layer)

/** Stages `{ count: 7 }` and pauses for a minute on its first run; on the next, returns what it finds stored. */
const makeResumable = (runs: Ref.Ref<number>) =>
  task({ name: "resumable", input: Schema.Null }, () =>
    Effect.gen(function* () {
      const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
      const snapshots = yield* Snapshots
      if (run > 1) {
        const latest = yield* snapshots.latest()
        return Option.match(latest, {
          onNone: () => null,
          onSome: (s) => ({ data: s.data, checkpoint: s.checkpoint, version: s.version })
        })
      }
      yield* snapshots.stage({ count: 7 })
      return yield* suspend({ _tag: "Paused", until: 60_000 }, 60_000)
    })
  )

describe("SnapshotPlugin", () => {
  it.effect("saves the staged value as a checkpoint when the task suspends", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make({ auto: { onSuspend: true } })] })
      const handle = yield* runtime.submit(makeResumable(runs), null)
      yield* TestClock.adjust("1 minute")
      const output = yield* handle.await
      assert.deepStrictEqual(output, { data: { count: 7 }, checkpoint: true, version: 1 })
      assert.strictEqual(yield* Ref.get(runs), 2)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("saves nothing on suspension without the automatic policy", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)
      const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make()] })
      const handle = yield* runtime.submit(makeResumable(runs), null)
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* handle.await, null)
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("drops a staged value when the task completes instead of suspending", () =>
    Effect.gen(function* () {
      const finisher = task({ name: "finisher", input: Schema.Null }, () =>
        Effect.gen(function* () {
          yield* (yield* Snapshots).stage({ never: "saved" })
          return "done"
        })
      )
      const runtime = yield* Runtime.make({ plugins: [SnapshotPlugin.make({ auto: { onSuspend: true } })] })
      const handle = yield* runtime.submit(finisher, null)
      assert.strictEqual(yield* handle.await, "done")
      const store = yield* SnapshotStore
      assert.isTrue(Option.isNone(yield* store.latest(handle.id)))
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("gives each execution its Snapshots without touching the store", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const counting = Layer.effect(
        SnapshotStore,
        Effect.map(SnapshotStore, (inner) => {
          const count = <A, E>(effect: Effect.Effect<A, E>) =>
            Effect.andThen(
              Ref.update(calls, (n) => n + 1),
              effect
            )
          return SnapshotStore.of({
            save: (s) => count(inner.save(s)),
            latest: (t) => count(inner.latest(t)),
            get: (t, v) => count(inner.get(t, v)),
            list: (t, q) => count(inner.list(t, q)),
            listSummaries: (t, q) => count(inner.listSummaries(t, q)),
            checkpoints: (t) => count(inner.checkpoints(t)),
            prune: (t, o) => count(inner.prune(t, o)),
            fork: (f, t) => count(inner.fork(f, t))
          })
        })
      ).pipe(Layer.provide(MemorySnapshotStore.layer))
      const plugin = SnapshotPlugin.make()
      // The contract lets a plugin layer use every execution service; this one needs only TaskInfo and the store.
      const layer = plugin.layer as Layer.Layer<Snapshots, never, TaskInfo | SnapshotStore>
      const taskId = yield* Effect.map(Snapshots, () => "built").pipe(
        Effect.provide(layer.pipe(Layer.provide([TaskInfo.layerTest({ id: "t" }), counting])))
      )
      assert.strictEqual(taskId, "built")
      assert.strictEqual(yield* Ref.get(calls), 0)
      assert.strictEqual(plugin.name, "snapshots")
      assert.isUndefined(plugin.hooks)
    })
  )
})
