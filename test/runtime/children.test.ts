import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import {
  ChildFailed,
  Children,
  MemoryStore,
  MemoryTaskStore,
  plugin,
  Runtime,
  TaskInfo,
  type TaskRecord,
  TaskStore,
  task
} from "../../src/index.ts"
import { suspend } from "../../src/runtime/Suspension.ts"

const double = task({ name: "double", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n * 2))

/** A parent that doubles 1, 2 and 3 in three children. */
const sums = task({ name: "sums", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
  Children.all([1, 2, 3].map((n) => Children.spec(double, n, { key: `d${n}` })))
)

/** The store of the test, which records the children each wait for children names, in `waits`. */
const recordingWaits = Effect.map(Effect.service(TaskStore), (store) => {
  const waits: Array<ReadonlyArray<string>> = []
  const recording = TaskStore.of({
    ...store,
    finish: (id, token, transition) =>
      Effect.suspend(() => {
        if (transition._tag === "AwaitingChildren") waits.push(transition.children)
        return store.finish(id, token, transition)
      })
  })
  return { recording, waits }
})

/** A child that fails at once. */
const boom = task({ name: "boom", input: Schema.Void }, () => Effect.fail({ _tag: "Boom", message: "it broke" }))

/** A child that waits for its gate, then returns its input. */
const gatedChild = (gates: Map<string, Deferred.Deferred<void>>, running: Ref.Ref<number>, peak: Ref.Ref<number>) =>
  task({ name: "gated-child", input: Schema.String, output: Schema.String }, (key) =>
    Effect.gen(function* () {
      const now = yield* Ref.updateAndGet(running, (n) => n + 1)
      yield* Ref.update(peak, (p) => Math.max(p, now))
      let gate = gates.get(key)
      if (gate === undefined) {
        gate = yield* Deferred.make<void>()
        gates.set(key, gate)
      }
      yield* Deferred.await(gate).pipe(Effect.ensuring(Ref.update(running, (n) => n - 1)))
      return key
    })
  )

const childrenOf = (parentId: string) =>
  Effect.flatMap(TaskStore, (store) =>
    Effect.map(store.list({ parentId, limit: 1000 }), (page) => page.items as ReadonlyArray<TaskRecord>)
  )

const open = (gates: Map<string, Deferred.Deferred<void>>, key: string) =>
  Effect.gen(function* () {
    let gate = gates.get(key)
    if (gate === undefined) {
      gate = yield* Deferred.make<void>()
      gates.set(key, gate)
    }
    yield* Deferred.succeed(gate, undefined)
  })

describe("Children", () => {
  it.effect("starts a child and waits for it; the parent completes with what the child returned", () =>
    Effect.gen(function* () {
      const parent = task({ name: "parent", input: Schema.Number, output: Schema.Number }, (n) =>
        Effect.gen(function* () {
          const child = yield* Children.start(double, n, { key: "double" })
          return (yield* Children.await(child)) + 1
        })
      )
      const runtime = yield* Runtime.make()
      assert.strictEqual(yield* runtime.run(parent, 20), 41)
      const [record] = (yield* runtime.list({ name: "parent" })).items
      const kids = yield* childrenOf(record?.id ?? "")
      assert.deepStrictEqual(
        kids.map((k) => [k.name, k.childKey, k.status, k.output]),
        [["double", "double", "completed", 40]]
      )
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("suspends a parent whose children have not ended: no fiber runs its body until the last one ends", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const child = gatedChild(gates, running, peak)
      const runs = yield* Ref.make(0)
      const parent = task({ name: "fan", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
        Effect.andThen(
          Ref.update(runs, (n) => n + 1),
          Children.all(["a", "b", "c"].map((key) => Children.spec(child, key, { key })))
        )
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      yield* Effect.yieldNow
      const waiting = yield* handle.info
      assert.deepStrictEqual(
        [waiting.status, waiting.suspendReason],
        ["suspended", { _tag: "WaitingForChildren", mode: "all", total: 3, remaining: 3 }]
      )
      yield* open(gates, "b")
      yield* open(gates, "a")
      yield* Effect.yieldNow
      assert.strictEqual(yield* Ref.get(runs), 1, "not run again before the last child ended")
      yield* open(gates, "c")
      assert.deepStrictEqual(yield* handle.await, ["a", "b", "c"])
      assert.strictEqual(yield* Ref.get(runs), 2)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("starts a child once per key: a body that runs again finds the same child, and never starts a second", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const runs = yield* Ref.make(0)
      const parent = task({ name: "again", input: Schema.Void, output: Schema.String }, () =>
        Effect.gen(function* () {
          yield* Ref.update(runs, (n) => n + 1)
          const started = yield* Children.start(child, "only", { key: "k" })
          return yield* Children.await(started)
        })
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      yield* Effect.yieldNow
      yield* open(gates, "only")
      assert.strictEqual(yield* handle.await, "only")
      assert.strictEqual(yield* Ref.get(runs), 2, "the body ran twice")
      assert.strictEqual((yield* childrenOf(handle.id)).length, 1, "one child")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("refuses a key started again with another task or input, with ChildConflict, starting nothing", () =>
    Effect.gen(function* () {
      const triple = task({ name: "triple", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n * 3))
      const parent = task({ name: "conflicted", input: Schema.String }, (which) =>
        Effect.gen(function* () {
          yield* Children.start(double, 1, { key: "k" })
          if (which === "task") yield* Children.start(triple, 1, { key: "k" })
          else yield* Children.start(double, 2, { key: "k" })
        })
      )
      const runtime = yield* Runtime.make()
      for (const which of ["task", "input"]) {
        const error = yield* Effect.flip(runtime.run(parent, which))
        assert.strictEqual(error._tag, "ChildConflict", which)
        if (error._tag === "ChildConflict") assert.strictEqual(error.key, "k")
      }
      assert.strictEqual((yield* runtime.list({ name: "triple" })).items.length, 0)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("keeps at most `concurrency` children of a fan-out running at once; the rest wait, queued", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const child = gatedChild(gates, running, peak)
      const keys = Array.from({ length: 8 }, (_, i) => `c${i}`)
      const parent = task({ name: "bounded", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
        Children.all(
          keys.map((key) => Children.spec(child, key, { key })),
          { concurrency: 2 }
        )
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      for (const key of keys) {
        yield* Effect.yieldNow
        assert.isAtMost(yield* Ref.get(running), 2)
        yield* open(gates, key)
      }
      assert.deepStrictEqual(yield* handle.await, keys)
      assert.strictEqual(yield* Ref.get(peak), 2)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("goes on with a bounded fan-out whose first children end before its last child is created", () =>
    Effect.gen(function* () {
      // 500 children, created 256 at a time: a child driven as soon as it was created could end, releasing none of
      // the queued siblings not yet created, and the fan-out would wait for ever (children of a bounded fan-out are
      // driven only once all are created)
      const parent = task({ name: "wide", input: Schema.Void, output: Schema.Number }, () =>
        Effect.map(
          Children.all(
            Array.from({ length: 500 }, (_, i) => Children.spec(double, i, { key: `d${i}` })),
            { concurrency: 4 }
          ),
          (outputs) => outputs.reduce((a, b) => a + b, 0)
        )
      )
      const runtime = yield* Runtime.make()
      assert.strictEqual(yield* runtime.run(parent, undefined), 499 * 500)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("releases queued children when the body runs again and siblings ended before they were created", () =>
    Effect.gen(function* () {
      const keys = ["k0", "k1", "k2", "k3", "k4"]
      const parent = task({ name: "fanned", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
        Children.all(
          keys.map((key, i) => Children.spec(double, i, { key })),
          { concurrency: 2 }
        )
      )
      // what a first run that died between its creates leaves: two children that ended, three queued behind them
      const store = yield* TaskStore
      const lease = { owner: "gone", expiresAt: Number.MAX_SAFE_INTEGER }
      yield* store.create({ id: "p", name: "fanned", input: null })
      for (const [i, key] of keys.entries()) {
        const child = yield* store.create({
          id: `p/${key}`,
          name: "double",
          input: i,
          parentId: "p",
          childKey: key,
          queued: i >= 2,
          bounded: true,
          lease: i < 2 ? lease : undefined
        })
        if (i < 2) yield* store.finish(child.id, child.fencingToken, { _tag: "Completed", output: i * 2 })
      }
      const runtime = yield* Runtime.make({ tasks: [parent, double] })
      yield* runtime.resume("p")
      assert.deepStrictEqual(yield* runtime.handle(parent, "p").await, [0, 2, 4, 6, 8])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("takes over the children a dead runtime of another id left running, once their leases expire", () =>
    Effect.gen(function* () {
      const keys = ["k0", "k1", "k2"]
      const parent = task({ name: "orphaned", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
        Children.all(keys.map((key, i) => Children.spec(double, i, { key })))
      )
      // what a runtime "gone" leaves when it is killed: its parent waiting, its children running under its leases
      const store = yield* TaskStore
      const lease = { owner: "gone", expiresAt: 1_000 }
      const root = yield* store.create({ id: "p", name: "orphaned", input: null, idempotencyKey: "tree", lease })
      const ids: Array<string> = []
      for (const [i, key] of keys.entries()) {
        const child = yield* store.create({
          id: `p/${key}`,
          name: "double",
          input: i,
          parentId: "p",
          childKey: key,
          lease
        })
        ids.push(child.id)
      }
      yield* store.finish("p", root.fencingToken, { _tag: "AwaitingChildren", children: ids, mode: "all" })
      // no worker, another id: `recover` takes back nothing; the run by the root's key takes the children over
      const runtime = yield* Runtime.make({ tasks: [parent, double] })
      assert.deepStrictEqual(yield* runtime.recover, [])
      const run = yield* Effect.forkChild(runtime.run(parent, undefined, { idempotencyKey: "tree" }))
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Fiber.join(run), [0, 2, 4])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("claims a released child that a claim after its sibling's end missed, at the parent's next poll", () =>
    Effect.gen(function* () {
      // on a server a claim skips a child another transaction holds; here the store's first claims find none
      let missed = 0
      const missing = Layer.effect(
        TaskStore,
        Effect.map(Effect.service(TaskStore), (inner) =>
          TaskStore.of({
            ...inner,
            claimChild: (parentId, names, lease) =>
              missed < 2
                ? Effect.sync(() => {
                    missed++
                    return Option.none()
                  })
                : inner.claimChild(parentId, names, lease)
          })
        )
      ).pipe(Layer.provide(MemoryTaskStore.layer))
      const parent = task({ name: "narrow", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
        Children.all(
          [1, 2, 3].map((n) => Children.spec(double, n, { key: `d${n}` })),
          { concurrency: 1 }
        )
      )
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const run = yield* Effect.forkChild(runtime.run(parent, undefined))
        yield* TestClock.adjust("3 seconds")
        assert.deepStrictEqual(yield* Fiber.join(run), [2, 4, 6])
        assert.strictEqual(missed, 2)
      }).pipe(Effect.scoped, Effect.provide(missing))
    })
  )

  it.effect("fails `all` with ChildFailed at a child's failure and cancels the others, or leaves them", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const parent = task({ name: "all-fails", input: Schema.Literals(["cancel", "leave"]) }, (onFailure) =>
        Children.all(
          [Children.spec(child, onFailure, { key: "slow" }), Children.spec(boom, undefined, { key: "boom" })],
          {
            onFailure
          }
        )
      )
      const runtime = yield* Runtime.make()
      for (const onFailure of ["cancel", "leave"] as const) {
        const handle = yield* runtime.submit(parent, onFailure)
        const error = yield* Effect.flip(handle.await)
        assert.strictEqual(error._tag, "ChildFailed")
        if (error._tag === "ChildFailed") {
          assert.deepStrictEqual([error.key, error.errorTag, error.reason], ["boom", "Boom", "it broke"])
        }
        const slow = (yield* childrenOf(handle.id)).find((k) => k.childKey === "slow")
        assert.strictEqual(slow?.status, onFailure === "cancel" ? "cancelled" : "running", onFailure)
      }
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it("says a child's error in ChildFailed's message, and its tag alone when that error had no message", () => {
    const message = (reason: string) => new ChildFailed({ childId: "c1", key: "k", errorTag: "Boom", reason }).message
    assert.strictEqual(message("it broke"), 'child "k" (c1) failed with Boom: it broke')
    assert.strictEqual(message(""), 'child "k" (c1) failed with Boom')
  })

  it.effect("a parent's next run takes the children this runtime ended from their ending writes, reading none", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      let lists = 0
      const counting = TaskStore.of({
        ...store,
        children: (parentId) =>
          Effect.suspend(() => {
            lists++
            return store.children(parentId)
          }),
        childSummaries: (parentId) =>
          Effect.suspend(() => {
            lists++
            return store.childSummaries(parentId)
          })
      })
      const outputs = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        return yield* runtime.run(sums, undefined)
      }).pipe(Effect.provideService(TaskStore, counting))
      assert.deepStrictEqual(outputs, [2, 4, 6])
      assert.strictEqual(lists, 1, "the first run's look for children started earlier, and no other")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("joins at once children that ended while their siblings were created, with no wait in the store", () =>
    Effect.gen(function* () {
      const { recording, waits } = yield* recordingWaits
      const outputs = yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        return yield* runtime.run(sums, undefined)
      }).pipe(Effect.provideService(TaskStore, recording))
      assert.deepStrictEqual(outputs, [2, 4, 6])
      assert.strictEqual(waits.length, 0, "each child ended, by a write of this runtime, before the join looked")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect(
    "waits for its children's ending writes still on the way, and joins at once, with no wait in the store",
    () =>
      Effect.gen(function* () {
        const { recording, waits } = yield* recordingWaits
        // every end is written 10 ms after its body returned (a round trip, on the test's clock): the children's ends
        // are still on the way when the parent has created the last of them
        const slowEnds = TaskStore.of({
          ...recording,
          finish: (id, token, transition) =>
            transition._tag === "Completed"
              ? Effect.andThen(Effect.sleep("10 millis"), recording.finish(id, token, transition))
              : recording.finish(id, token, transition)
        })
        const runs = yield* Ref.make(0)
        const parent = task({ name: "sums-once", input: Schema.Void, output: Schema.Array(Schema.Number) }, () =>
          Effect.andThen(
            Ref.update(runs, (n) => n + 1),
            Children.all([1, 2, 3].map((n) => Children.spec(double, n, { key: `d${n}` })))
          )
        )
        const outputs = yield* Effect.gen(function* () {
          const runtime = yield* Runtime.make()
          const running = yield* Effect.forkChild(runtime.run(parent, undefined))
          // the parent creates its children and looks at them, all in memory, before any clock moves
          for (let i = 0; i < 100; i++) yield* Effect.yieldNow
          for (let i = 0; i < 10 && running.pollUnsafe() === undefined; i++) {
            yield* TestClock.adjust("10 millis")
            for (let j = 0; j < 20; j++) yield* Effect.yieldNow
          }
          return yield* Fiber.join(running)
        }).pipe(Effect.provideService(TaskStore, slowEnds))
        assert.deepStrictEqual(outputs, [2, 4, 6])
        assert.strictEqual(waits.length, 0, "the join waited for the writes here, not in the store")
        assert.strictEqual(yield* Ref.get(runs), 1, "the parent's body ran once")
      }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("does not wait for a child's suspension being written: the parent suspends, holding nothing", () =>
    Effect.gen(function* () {
      // the child's suspension runs a plugin's `beforeSuspend` hook before its write, held here
      const hookEntered = yield* Deferred.make<void>()
      const hookGate = yield* Deferred.make<void>()
      const holding = plugin({
        name: "holding",
        layer: Layer.empty,
        hooks: {
          beforeSuspend: (info) =>
            info.name === "sleeper"
              ? Effect.andThen(Deferred.succeed(hookEntered, undefined), Deferred.await(hookGate))
              : Effect.void
        }
      })
      const sleeper = task({ name: "sleeper", input: Schema.Void }, () =>
        suspend({ _tag: "WaitingForSignal", signal: "go" }, undefined)
      )
      const parent = task({ name: "waits-for-sleeper", input: Schema.Void }, () =>
        Effect.asVoid(Children.all([Children.spec(sleeper, undefined, { key: "s" })]))
      )
      const runtime = yield* Runtime.make({ plugins: [holding] })
      const handle = yield* runtime.submit(parent, undefined)
      yield* Deferred.await(hookEntered)
      while ((yield* handle.status) !== "suspended") yield* Effect.yieldNow
      const record = yield* runtime.get(handle.id)
      assert.strictEqual(record.suspendReason?._tag, "WaitingForChildren", "suspended while the child's hook was held")
      yield* Deferred.succeed(hookGate, undefined)
      yield* runtime.cancel(handle.id)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("chooses the same `first` in every run, when a child ended before the one whose end it saw first", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      // b's end is written first, and its answer comes late; c's create waits until a's end is seen here
      const bWritten = yield* Deferred.make<void>()
      const bAnswers = yield* Deferred.make<void>()
      const cCreated = yield* Deferred.make<void>()
      let bId = ""
      const slow = TaskStore.of({
        ...store,
        create: (created) => {
          if (created.input === "b") bId = created.id
          return created.input === "c"
            ? Effect.andThen(Deferred.await(cCreated), store.create(created))
            : store.create(created)
        },
        finish: (id, token, transition) =>
          id !== bId
            ? store.finish(id, token, transition)
            : Effect.tap(store.finish(id, token, transition), () =>
                Effect.andThen(Deferred.succeed(bWritten, undefined), Deferred.await(bAnswers))
              )
      })
      const racer = task({ name: "racer", input: Schema.String, output: Schema.String }, (key) =>
        key === "c" ? Effect.never : Effect.succeed(key)
      )
      const gate = yield* Deferred.make<void>()
      const held = task({ name: "held", input: Schema.Void }, () => Deferred.await(gate))
      const chosen: Array<string> = []
      const parent = task({ name: "races", input: Schema.Void, output: Schema.String }, () =>
        Effect.gen(function* () {
          const winner = yield* Children.first(["b", "a", "c"].map((key) => Children.spec(racer, key, { key })))
          chosen.push(winner)
          // a later wait, so that the body runs again and chooses again
          yield* Children.all([Children.spec(held, undefined, { key: "held" })])
          return winner
        })
      )
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const handle = yield* runtime.submit(parent, undefined)
        yield* Deferred.await(bWritten)
        const a = () => Effect.map(childrenOf(handle.id), (kids) => kids.find((kid) => kid.childKey === "a"))
        while ((yield* a())?.status !== "completed") yield* Effect.yieldNow
        for (let turn = 0; turn < 10; turn++) yield* Effect.yieldNow
        yield* Deferred.succeed(cCreated, undefined)
        while ((yield* handle.status) !== "suspended" || chosen.length === 0) yield* Effect.yieldNow
        yield* Deferred.succeed(bAnswers, undefined)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(yield* handle.await, "b")
      }).pipe(Effect.provideService(TaskStore, slow))
      assert.isAtLeast(chosen.length, 2)
      assert.deepStrictEqual(new Set(chosen), new Set(["b"]), `chosen in each run: ${chosen}`)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("a parent that ends cancels its queued children, which could never start, and leaves running ones", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const parent = task({ name: "leaves", input: Schema.Void }, () =>
        Children.all(
          [
            Children.spec(boom, undefined, { key: "a" }),
            Children.spec(child, "b", { key: "b" }),
            Children.spec(child, "c", { key: "c" }),
            Children.spec(child, "d", { key: "d" })
          ],
          { concurrency: 2, onFailure: "leave" }
        )
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      assert.strictEqual((yield* Effect.flip(handle.await))._tag, "ChildFailed")
      // a's end released c, which the parent may join before c is claimed: c runs all the same
      let kids = yield* childrenOf(handle.id)
      for (let turn = 0; turn < 100 && kids.some((kid) => kid.status === "pending"); turn++) {
        yield* Effect.yieldNow
        kids = yield* childrenOf(handle.id)
      }
      assert.deepStrictEqual(
        kids.map((kid) => [kid.childKey, kid.status]),
        [
          ["a", "failed"],
          ["b", "running"],
          ["c", "running"],
          ["d", "cancelled"]
        ]
      )
      for (const key of ["b", "c"]) yield* open(gates, key)
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("reports every child's end with `settled`, and the first success with `first`, cancelling the rest", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const boom = task({ name: "boom2", input: Schema.Void }, () => Effect.fail({ _tag: "Boom", message: "no" }))
      const settle = task({ name: "settle", input: Schema.Void }, () =>
        Effect.map(
          Children.settled([Children.spec(double, 4, { key: "ok" }), Children.spec(boom, undefined, { key: "bad" })]),
          (outcomes) => outcomes.map((o) => (o._tag === "Completed" ? o.value : o.error._tag))
        )
      )
      const race = task({ name: "race", input: Schema.Void, output: Schema.String }, () =>
        Children.first([Children.spec(child, "slow", { key: "slow" }), Children.spec(child, "fast", { key: "fast" })])
      )
      const runtime = yield* Runtime.make()
      assert.deepStrictEqual(yield* runtime.run(settle, undefined), [8, "ChildFailed"])
      const handle = yield* runtime.submit(race, undefined)
      yield* Effect.yieldNow
      yield* open(gates, "fast")
      assert.strictEqual(yield* handle.await, "fast")
      const slow = (yield* childrenOf(handle.id)).find((k) => k.childKey === "slow")
      assert.strictEqual(slow?.status, "cancelled")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("fails the wait with ChildCancelled when someone else cancels a child", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const parent = task({ name: "waits-one", input: Schema.Void, output: Schema.String }, () =>
        Effect.flatMap(Children.start(child, "x", { key: "x" }), Children.await)
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      yield* Effect.yieldNow
      const [kid] = yield* childrenOf(handle.id)
      yield* runtime.cancel(kid?.id ?? "")
      const error = yield* Effect.flip(handle.await)
      assert.deepStrictEqual([error._tag, error._tag === "ChildCancelled" ? error.key : ""], ["ChildCancelled", "x"])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("cancels a parent's whole subtree, grandchildren and queued children included", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const leaf = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const middle = task({ name: "middle", input: Schema.String, output: Schema.Array(Schema.String) }, (key) =>
        Children.all(
          ["1", "2", "3"].map((n) => Children.spec(leaf, `${key}.${n}`, { key: n })),
          { concurrency: 1 }
        )
      )
      const root = task({ name: "root", input: Schema.Void }, () =>
        Children.all(["a", "b"].map((key) => Children.spec(middle, key, { key })))
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(root, undefined)
      yield* Effect.yieldNow
      yield* runtime.cancel(handle.id)
      const store = yield* TaskStore
      const all = (yield* store.list({ limit: 1000 })).items
      assert.strictEqual(all.length, 1 + 2 + 6)
      assert.deepStrictEqual(
        all.filter((t) => t.status !== "cancelled").map((t) => [t.name, t.status]),
        []
      )
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("gives a child its parent's session", () =>
    Effect.gen(function* () {
      const sessionOf = task({ name: "session-of", input: Schema.Void, output: Schema.String }, () =>
        Effect.map(Effect.service(TaskInfo), (info) => info.sessionId ?? "none")
      )
      const parent = task({ name: "in-session", input: Schema.Void, output: Schema.String }, () =>
        Effect.flatMap(Children.start(sessionOf, undefined, { key: "s" }), Children.await)
      )
      const runtime = yield* Runtime.make()
      assert.strictEqual(yield* runtime.session("s-1").run(parent, undefined), "s-1")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("does not read a waiting parent at each child's end here: only the end that ends its wait wakes it", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
      const parent = task({ name: "counted", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
        Children.all(keys.map((key) => Children.spec(child, key, { key })))
      )
      const reads = new Map<string, number>()
      const counting = Layer.effect(
        TaskStore,
        Effect.map(Effect.service(TaskStore), (inner) =>
          TaskStore.of({
            ...inner,
            get: (id) =>
              Effect.andThen(
                Effect.sync(() => reads.set(id, (reads.get(id) ?? 0) + 1)),
                inner.get(id)
              )
          })
        )
      ).pipe(Layer.provide(MemoryTaskStore.layer))
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const handle = yield* runtime.submit(parent, undefined)
        yield* Effect.yieldNow
        const before = reads.get(handle.id) ?? 0
        for (const key of keys.slice(0, -1)) yield* open(gates, key)
        yield* Effect.yieldNow
        assert.strictEqual(reads.get(handle.id) ?? 0, before, "9 of 10 ends: the parent was not read")
        yield* open(gates, keys.at(-1) as string)
        assert.deepStrictEqual(yield* handle.await, keys)
      }).pipe(Effect.scoped, Effect.provide(counting))
    })
  )

  it.effect("waits in the store for the children still running alone, and says how many the join named", () =>
    Effect.gen(function* () {
      const { recording, waits } = yield* recordingWaits
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const parent = task(
        { name: "half", input: Schema.Void, output: Schema.Tuple([Schema.Number, Schema.String]) },
        () => Children.all([Children.spec(double, 2, { key: "fast" }), Children.spec(child, "slow", { key: "slow" })])
      )
      yield* Effect.gen(function* () {
        const runtime = yield* Runtime.make()
        const handle = yield* runtime.submit(parent, undefined)
        while ((yield* handle.status) !== "suspended") yield* Effect.yieldNow
        const slow = (yield* childrenOf(handle.id)).find((kid) => kid.childKey === "slow")?.id as string
        assert.deepStrictEqual(waits, [[slow]], "the child that ended before the join looked is not waited for")
        const inspection = yield* runtime.inspect(handle.id)
        assert.deepStrictEqual(inspection.children, { total: 2, remaining: 1, waitingFor: [slow] })
        yield* open(gates, "slow")
        assert.deepStrictEqual(yield* handle.await, [4, "slow"])
      }).pipe(Effect.provideService(TaskStore, recording))
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect("says what a waiting parent waits for: how many children, how many still running, and their ids", () =>
    Effect.gen(function* () {
      const gates = new Map<string, Deferred.Deferred<void>>()
      const child = gatedChild(gates, yield* Ref.make(0), yield* Ref.make(0))
      const parent = task({ name: "inspected", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
        Children.all(["a", "b", "c"].map((key) => Children.spec(child, key, { key })))
      )
      const runtime = yield* Runtime.make()
      const handle = yield* runtime.submit(parent, undefined)
      yield* Effect.yieldNow
      yield* open(gates, "a")
      yield* Effect.yieldNow
      const inspection = yield* runtime.inspect(handle.id)
      assert.strictEqual(inspection.reason, "waiting-children")
      const running = (yield* childrenOf(handle.id)).filter((k) => k.status === "running").map((k) => k.id)
      assert.deepStrictEqual(inspection.children, { total: 3, remaining: 2, waitingFor: running })
      yield* open(gates, "b")
      yield* open(gates, "c")
      assert.deepStrictEqual(yield* handle.await, ["a", "b", "c"])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )

  it.effect(
    "goes on with a tree whose runtime shut down: another runs the root by its key and drives the children left",
    () =>
      Effect.gen(function* () {
        const gates = new Map<string, Deferred.Deferred<void>>()
        const running = yield* Ref.make(0)
        const peak = yield* Ref.make(0)
        const child = gatedChild(gates, running, peak)
        const mid = task({ name: "mid", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
          Children.all(["ma", "mb"].map((key) => Children.spec(child, key, { key })))
        )
        const root = task({ name: "root", input: Schema.Void, output: Schema.Array(Schema.String) }, () =>
          Effect.map(
            Children.all(
              [
                Children.spec(mid, undefined, { key: "mid" }),
                ...["c0", "c1", "c2"].map((key) => Children.spec(child, key, { key }))
              ],
              { concurrency: 2 }
            ),
            ([fromMid, ...rest]) => [...(fromMid as ReadonlyArray<string>), ...(rest as ReadonlyArray<string>)]
          )
        )
        const stores = yield* Layer.build(MemoryStore.layer)
        // the first runtime runs the tree until three children run (c0, and mid's two), then shuts down
        yield* Effect.gen(function* () {
          const first = yield* Runtime.make({ tasks: [root, mid, child] })
          yield* first.submit(root, undefined, { idempotencyKey: "tree" })
          while ((yield* Ref.get(running)) < 3) yield* Effect.yieldNow
        }).pipe(Effect.scoped, Effect.provideContext(stores))
        const left = yield* Effect.map(
          TaskStore.pipe(
            Effect.flatMap((store) => store.list({ limit: 100 })),
            Effect.provideContext(stores)
          ),
          (page) => page.items.map((t) => `${t.name}:${t.status}`).sort()
        )
        assert.deepStrictEqual(left, [
          "gated-child:pending",
          "gated-child:pending",
          "gated-child:pending",
          "gated-child:suspended",
          "gated-child:suspended",
          "mid:suspended",
          "root:suspended"
        ])
        for (const key of ["ma", "mb", "c0", "c1", "c2"]) yield* open(gates, key)
        // no worker: the run finds the root waiting, and drives the children its wait and mid's left runnable
        const second = yield* Runtime.make({ tasks: [root, mid, child] }).pipe(Effect.provideContext(stores))
        const output = yield* second
          .run(root, undefined, { idempotencyKey: "tree" })
          .pipe(Effect.provideContext(stores))
        assert.deepStrictEqual(output, ["ma", "mb", "c0", "c1", "c2"])
      }).pipe(Effect.scoped)
  )

  it.effect(
    "frees a waiting parent's maxParallel slot: a recursive agent under maxParallel 2, 3 levels of 3, completes",
    () =>
      Effect.gen(function* () {
        const agent: ReturnType<typeof makeAgent> = makeAgent(() => agent)
        const runtime = yield* Runtime.make()
        const handle = yield* runtime.submit(agent, 3)
        assert.strictEqual(yield* handle.await, 1 + 3 + 9)
        const store = yield* TaskStore
        assert.strictEqual((yield* store.list({ name: "agent", limit: 1000 })).items.length, 1 + 3 + 9)
      }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )
})

/** An agent of `depth` levels: it starts 3 agents one level down and counts the agents of its tree. */
const makeAgent = (self: () => ReturnType<typeof makeAgentTask>) => makeAgentTask(self)
const makeAgentTask = (self: () => unknown) =>
  task(
    { name: "agent", input: Schema.Number, output: Schema.Number, maxParallel: 2 },
    (depth): Effect.Effect<number, unknown, Children> =>
      depth <= 1
        ? Effect.succeed(1)
        : Effect.map(
            Children.all(
              [0, 1, 2].map((i) =>
                Children.spec(self() as ReturnType<typeof makeAgentTask>, depth - 1, { key: `agent-${i}` })
              )
            ),
            (counts) => 1 + counts.reduce((a, b) => a + b, 0)
          )
  )
