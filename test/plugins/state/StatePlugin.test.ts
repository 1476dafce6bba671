import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Layer, Option, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as SnapshotPlugin from "../../../src/plugins/snapshots/SnapshotPlugin.ts"
import { pause, step, waitForSignal } from "../../../src/plugins/state/Durable.ts"
import * as StatePlugin from "../../../src/plugins/state/StatePlugin.ts"
import { TaskState } from "../../../src/plugins/state/TaskState.ts"
import { Runtime, TaskInfo, task } from "../../../src/runtime/index.ts"
import {
  MemoryStateStore,
  MemoryStepStore,
  MemoryStore,
  MemoryTaskStore,
  SnapshotStore,
  StateStore
} from "../../../src/stores/index.ts"

const Stores = Layer.mergeAll(MemoryTaskStore.layer, MemoryStateStore.layer, MemoryStepStore.layer)

class Broken extends Schema.TaggedError<Broken>()("Broken", {}) {}

describe("StatePlugin", () => {
  it.effect("processes 5 files, pauses, and resumes at file 6 from its state", () =>
    Effect.gen(function* () {
      const processed = yield* Ref.make<ReadonlyArray<number>>([])
      const files = task({ name: "files", input: Schema.Struct({ count: Schema.Int }) }, ({ count }) =>
        Effect.gen(function* () {
          const state = yield* TaskState
          const done = Number(yield* state.getOr("done", 0))
          for (let file = done + 1; file <= count; file++) {
            yield* Ref.update(processed, (all) => [...all, file])
            yield* state.set("done", file)
            if (file % 5 === 0 && file < count) yield* pause({ delay: "1 minute" })
          }
          return yield* state.getOr("done", 0)
        })
      )
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make({ keepStateAfterEnd: true })] })
      const handle = yield* runtime.submit(files, { count: 8 })
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* Ref.get(processed), [1, 2, 3, 4, 5])
      const paused = yield* handle.info
      assert.deepStrictEqual([paused.status, paused.suspendReason?._tag], ["suspended", "Paused"])
      yield* TestClock.adjust("1 minute")
      assert.strictEqual(yield* handle.await, 8)
      assert.deepStrictEqual(yield* Ref.get(processed), [1, 2, 3, 4, 5, 6, 7, 8])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("clears a task's own state when it completes, fails or is cancelled, and keeps it while suspended", () =>
    Effect.gen(function* () {
      const store = yield* StateStore
      const gate = yield* Deferred.make<void>()
      const stateful = task(
        { name: "stateful", input: Schema.Literals(["complete", "fail", "cancel", "wait"]) },
        (how) =>
          Effect.gen(function* () {
            const state = yield* TaskState
            yield* state.set("mark", how)
            if (how === "fail") return yield* new Broken()
            if (how === "cancel") yield* Deferred.await(gate)
            if (how === "wait") yield* waitForSignal("go", Schema.Void)
            return how
          })
      )
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      const keys = (id: string) => Effect.map(store.getAll(`task:${id}`), (all) => [...all.keys()])

      const completed = yield* runtime.submit(stateful, "complete")
      yield* completed.await
      assert.deepStrictEqual(yield* keys(completed.id), [])

      const failed = yield* runtime.submit(stateful, "fail")
      yield* Effect.flip(failed.await)
      assert.deepStrictEqual(yield* keys(failed.id), [])

      const cancelled = yield* runtime.submit(stateful, "cancel")
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* keys(cancelled.id), ["mark"])
      yield* cancelled.cancel
      assert.deepStrictEqual(yield* keys(cancelled.id), [])

      const waiting = yield* runtime.submit(stateful, "wait")
      yield* Effect.yieldNow
      assert.strictEqual(yield* waiting.status, "suspended")
      assert.deepStrictEqual(yield* keys(waiting.id), ["mark"])
      yield* waiting.signal("go", null)
      assert.strictEqual(yield* waiting.await, "wait")
      assert.deepStrictEqual(yield* keys(waiting.id), [])
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )

  it.effect("gives the snapshot plugin's policy a snapshot of the state after every step, or every N writes", () =>
    Effect.gen(function* () {
      const steps = task({ name: "steps", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const state = yield* TaskState
          for (let i = 1; i <= 3; i++) {
            yield* step(`s${i}`, Effect.succeed(i))
            yield* state.set("done", i)
          }
        })
      )
      const perStep = yield* Runtime.make({
        plugins: [
          StatePlugin.make({ keepStateAfterEnd: true }),
          SnapshotPlugin.make({ auto: { afterEveryStep: true } })
        ]
      })
      const first = yield* perStep.submit(steps, undefined)
      yield* first.await
      const snapshots = yield* SnapshotStore
      const page = yield* snapshots.list(first.id, { limit: 10 })
      // Each snapshot is taken right after a step, before that step's state write.
      assert.deepStrictEqual(
        page.items.map((s) => s.data),
        [{ done: 2 }, { done: 1 }, {}]
      )
      const perWrites = yield* Runtime.make({
        plugins: [StatePlugin.make({ keepStateAfterEnd: true }), SnapshotPlugin.make({ auto: { everyStateWrites: 2 } })]
      })
      const second = yield* perWrites.submit(steps, undefined)
      yield* second.await
      const byWrites = yield* snapshots.list(second.id, { limit: 10 })
      assert.deepStrictEqual(
        byWrites.items.map((s) => s.data),
        [{ done: 2 }]
      )
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("writes a step's result and its state together, and refuses state that is not JSON", () =>
    Effect.gen(function* () {
      const counted = task({ name: "counted", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const rows = yield* step("count", Effect.succeed(42), { state: (n) => ({ rows: n, phase: "counted" }) })
          const state = yield* TaskState
          return { rows, stored: yield* state.getAll() }
        })
      )
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      assert.deepStrictEqual(yield* runtime.run(counted, undefined), {
        rows: 42,
        stored: { rows: 42, phase: "counted" }
      })
      const broken = task({ name: "broken-state", input: Schema.Void }, () =>
        step("count", Effect.succeed(1), { state: () => ({ when: new Date(0) }) })
      )
      const error = yield* Effect.flip(runtime.run(broken, undefined))
      assert.strictEqual(error._tag, "StateNotSerializable")
      // a result no store can keep fails the step before anything is written, on every store alike
      const unkept = task({ name: "unkept", input: Schema.Void }, () => step("text", Effect.succeed("a\u0000b")))
      const refused = yield* Effect.flip(runtime.run(unkept, undefined))
      assert.strictEqual(refused._tag, "StepResultInvalid")
      assert.include(refused.message, "U+0000")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("lets two tasks of one session share state: step 1 writes, step 2 reads", () =>
    Effect.gen(function* () {
      const ask = task({ name: "ask", input: Schema.String }, (question) =>
        Effect.gen(function* () {
          const state = yield* TaskState
          yield* state.scope("session").set("question", question)
        })
      )
      const answer = task({ name: "answer", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const state = yield* TaskState
          const info = yield* TaskInfo
          const question = yield* state.scope("session").get("question")
          return `${info.sessionId}: ${Option.getOrElse(question, () => "?")}`
        })
      )
      const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
      const dialog = runtime.session("dialog-1")
      yield* dialog.run(ask, "what is durable?")
      assert.strictEqual(yield* dialog.run(answer, undefined), "dialog-1: what is durable?")
    }).pipe(Effect.scoped, Effect.provide(Stores))
  )
})
