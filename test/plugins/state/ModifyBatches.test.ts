import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Option, type Schema } from "effect"
import { TestClock } from "effect/testing"
import { TaskState, type TaskStateLocks } from "../../../src/plugins/state/TaskState.ts"
import { TaskInfo } from "../../../src/runtime/TaskInfo.ts"
import { MemoryStateStore, StoreError } from "../../../src/stores/index.ts"
import { PgliteStore } from "../../../src/stores/postgres/index.ts"
import { StateStore } from "../../../src/stores/StateStore.ts"

type Store = StateStore["Service"]

/** What a test store does besides storing: counts calls, and can make reads wait or writes fail. */
interface Script {
  readonly calls: { get: number; compareAndSet: number; put: number }
  /** Every read yields first, as a database round trip does, so that callers pile up behind a batch. */
  yieldOnRead: boolean
  /** The next read waits for this, after telling `reading`. */
  gate: { readonly reading: Deferred.Deferred<void>; readonly open: Deferred.Deferred<void> } | undefined
  /** How many compare-and-sets fail next with a StoreError. */
  failWrites: number
  /** Run instead of the next compare-and-set, once: another process writing first. */
  beforeWrite: ((inner: Store, scope: string) => Effect.Effect<void, StoreError>) | undefined
}

const scripted = (inner: Store, script: Script): Store => ({
  ...inner,
  get: (scope, key) =>
    Effect.suspend(() => {
      script.calls.get++
      const gate = script.gate
      script.gate = undefined
      const read = inner.get(scope, key)
      if (gate !== undefined) {
        return Effect.andThen(
          Effect.andThen(Deferred.succeed(gate.reading, undefined), Deferred.await(gate.open)),
          read
        )
      }
      return script.yieldOnRead ? Effect.andThen(Effect.yieldNow, read) : read
    }),
  put: (scope, entries) =>
    Effect.suspend(() => {
      script.calls.put++
      return inner.put(scope, entries)
    }),
  compareAndSet: (scope, key, expected, entry) =>
    Effect.suspend(() => {
      script.calls.compareAndSet++
      if (script.failWrites > 0) {
        script.failWrites--
        return Effect.fail(new StoreError({ operation: "compareAndSet", cause: new Error("connection lost") }))
      }
      const before = script.beforeWrite
      script.beforeWrite = undefined
      const write = inner.compareAndSet(scope, key, expected, entry)
      return before === undefined ? write : Effect.andThen(before(inner, scope), write)
    })
})

const newScript = (): Script => ({
  calls: { get: 0, compareAndSet: 0, put: 0 },
  yieldOnRead: false,
  gate: undefined,
  failWrites: 0,
  beforeWrite: undefined
})

/** Runs `body` with the state of task `task-1` over the store `layer` gives, scripted. */
const withState = <A, E, LE>(
  layer: Layer.Layer<StateStore, LE>,
  body: (state: TaskState["Service"], script: Script, locks: TaskStateLocks) => Effect.Effect<A, E, StateStore>
) => {
  const script = newScript()
  const locks = TaskState.makeLocks()
  const store = Layer.effect(
    StateStore,
    Effect.map(Effect.service(StateStore), (inner) => scripted(inner, script))
  ).pipe(Layer.provide(layer))
  return Effect.service(TaskState).pipe(
    Effect.provide(TaskState.layer({ locks }).pipe(Layer.provide(TaskInfo.layerTest({ id: "task-1" })))),
    Effect.flatMap((state) => body(state, script, locks)),
    Effect.provide(store)
  )
}

const increment = (n: Option.Option<Schema.Json>) => Number(Option.getOrElse(n, () => 0)) + 1

const ascending = (values: ReadonlyArray<unknown>) => [...values].map(Number).sort((a, b) => a - b)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

/** Lets every fiber that can run do so (forked callers reach the queue), with no clock involved. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

class Label extends Context.Service<Label, string>()("test/Label") {}

describe("TaskState.modify in batches", () => {
  it.effect("keeps all of 1000 concurrent increments, gives each caller its own result, in one store write", () =>
    withState(MemoryStateStore.layer, (state, script, locks) =>
      Effect.gen(function* () {
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, () => state.modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(ascending(results), range(1, 1000), "every caller saw its own value")
        assert.deepStrictEqual(yield* state.get("count"), Option.some(1000))
        assert.strictEqual(script.calls.compareAndSet, 1, "the 1000 updates were written together")
        assert.strictEqual(locks.modifies.size(), 0, "no queue is left once the key is written")
      })
    )
  )

  it.effect("writes far fewer times than it is called when the store takes time to answer", () =>
    withState(MemoryStateStore.layer, (state, script) =>
      Effect.gen(function* () {
        script.yieldOnRead = true
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, (_, i) =>
            // Callers keep coming while batches are written.
            Effect.andThen(i % 10 === 0 ? Effect.yieldNow : Effect.void, state.modify("count", increment))
          ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(ascending(results), range(1, 1000))
        assert.deepStrictEqual(yield* state.get("count"), Option.some(1000))
        assert.isAbove(script.calls.compareAndSet, 1, "callers came in while a batch was being written")
        assert.isAtMost(script.calls.compareAndSet, 100)
      })
    )
  )

  it.effect("applies the callers of a batch in the order they came, each to the value the one before made", () =>
    withState(MemoryStateStore.layer, (state) =>
      Effect.gen(function* () {
        const appendTo = (i: number) =>
          state.modify("log", (log) => [...(Option.getOrElse(log, () => []) as ReadonlyArray<number>), i])
        const results = yield* Effect.all(range(0, 99).map(appendTo), { concurrency: "unbounded" })
        assert.deepStrictEqual(yield* state.get("log"), Option.some(range(0, 99)))
        assert.deepStrictEqual(
          results,
          range(0, 99).map((i) => range(0, i))
        )
      })
    )
  )

  it.effect("fails every caller of a batch whose write fails with the StoreError, and writes nothing", () =>
    withState(MemoryStateStore.layer, (state, script) =>
      Effect.gen(function* () {
        yield* state.set("count", 7)
        script.failWrites = 1
        const exits = yield* Effect.all(
          Array.from({ length: 100 }, () => Effect.exit(state.modify("count", increment))),
          { concurrency: "unbounded" }
        )
        for (const exit of exits) {
          assert.isTrue(Exit.isFailure(exit))
          const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
          assert.strictEqual(error?._tag, "StoreError")
        }
        assert.strictEqual(script.calls.compareAndSet, 1, "one batch, one failed write")
        assert.deepStrictEqual(yield* state.get("count"), Option.some(7), "nothing was written")
        assert.strictEqual(yield* state.modify("count", increment), 8, "the next batch writes")
      })
    )
  )

  it.effect("fails only the caller whose function fails or whose value is not JSON; the batch writes the rest", () =>
    withState(MemoryStateStore.layer, (state) =>
      Effect.gen(function* () {
        const exits = yield* Effect.all(
          range(0, 9).map((i) =>
            Effect.exit(
              i === 3
                ? state.modifyEffect("count", () => Effect.fail("refused" as const))
                : i === 6
                  ? state.modify("count", () => () => "a function")
                  : state.modify("count", increment)
            )
          ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(Exit.findErrorOption(exits[3] as Exit.Exit<unknown, unknown>), Option.some("refused"))
        const notJson = Option.getOrUndefined(Exit.findErrorOption(exits[6] as Exit.Exit<unknown, { _tag: string }>))
        assert.strictEqual(notJson?._tag, "StateNotSerializable")
        const written = exits.filter(Exit.isSuccess).map((exit) => exit.value)
        assert.deepStrictEqual(ascending(written), range(1, 8))
        assert.deepStrictEqual(yield* state.get("count"), Option.some(8))
      })
    )
  )

  it.effect("fails only the caller whose function interrupts itself; the leader goes on with the batch", () =>
    withState(MemoryStateStore.layer, (state) =>
      Effect.gen(function* () {
        const exits = yield* Effect.all(
          range(0, 4).map((i) =>
            Effect.exit(
              i === 2 ? state.modifyEffect("count", () => Effect.interrupt) : state.modify("count", increment)
            )
          ),
          { concurrency: "unbounded" }
        )
        assert.isTrue(Exit.hasInterrupts(exits[2] as Exit.Exit<unknown, unknown>))
        assert.deepStrictEqual(ascending(exits.filter(Exit.isSuccess).map((exit) => exit.value)), range(1, 4))
        assert.deepStrictEqual(yield* state.get("count"), Option.some(4))
      })
    )
  )

  it.effect("runs each caller's effectful function in that caller's context, whoever leads the batch", () =>
    withState(MemoryStateStore.layer, (state) =>
      Effect.gen(function* () {
        const appendLabel = (label: string) =>
          state
            .modifyEffect("labels", (labels) =>
              Effect.map(Effect.service(Label), (own) => [
                ...(Option.getOrElse(labels, () => []) as Array<string>),
                own
              ])
            )
            .pipe(Effect.provideService(Label, label))
        yield* Effect.all([appendLabel("a"), appendLabel("b"), appendLabel("c")], { concurrency: "unbounded" })
        assert.deepStrictEqual(yield* state.get("labels"), Option.some(["a", "b", "c"]))
      })
    )
  )

  it.effect("applies a batch again, each function on the newer value, when another process wrote first", () =>
    withState(MemoryStateStore.layer, (state, script) =>
      Effect.gen(function* () {
        script.beforeWrite = (inner, scope) => inner.put(scope, new Map([["count", { value: 100 }]]))
        const results = yield* Effect.all(
          Array.from({ length: 10 }, () => state.modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(ascending(results), range(101, 110), "what was written, not the first try")
        assert.deepStrictEqual(yield* state.get("count"), Option.some(110))
        assert.strictEqual(script.calls.compareAndSet, 2, "lost once, then written")
      })
    )
  )

  it.effect("keeps each caller's TTL in a batch as if the calls had come one by one", () =>
    withState(MemoryStateStore.layer, (state) =>
      Effect.gen(function* () {
        yield* Effect.all(
          [
            state.modify("draft", () => "v1", { ttl: "1 minute" }),
            state.modify("draft", () => "v2"), // keeps the entry's expiry
            state.modify("kept", () => "v1", { ttl: "1 minute" }),
            state.modify("kept", () => "v2", { ttl: "Infinity" })
          ],
          { concurrency: "unbounded" }
        )
        yield* TestClock.adjust("61 seconds")
        assert.isTrue(Option.isNone(yield* state.get("draft")))
        assert.deepStrictEqual(yield* state.get("kept"), Option.some("v2"))
      })
    )
  )

  it.effect("hands the batch of an interrupted leader to the next: every other caller is written", () =>
    withState(MemoryStateStore.layer, (state, script, locks) =>
      Effect.gen(function* () {
        const gate = { reading: yield* Deferred.make<void>(), open: yield* Deferred.make<void>() }
        script.gate = gate
        const start = () => Effect.forkChild(state.modify("count", increment), { startImmediately: true })
        // Started at once, in one tick: the first leads, the next four are in its batch when it reads.
        const leader = yield* start()
        const inBatch = yield* Effect.forEach(range(1, 4), start)
        yield* Deferred.await(gate.reading)
        const queued = yield* Effect.forEach(range(1, 5), start) // wait for the next batch
        yield* settle
        yield* Fiber.interrupt(leader)
        assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(leader)))
        const written = yield* Effect.forEach([...inBatch, ...queued], (fiber) => Fiber.join(fiber))
        assert.deepStrictEqual(written, range(1, 9), "in the order they came")
        assert.deepStrictEqual(yield* state.get("count"), Option.some(9), "the leader's own update was not written")
        assert.strictEqual(script.calls.compareAndSet, 1, "what the leader left was written in one batch")
        assert.strictEqual(locks.modifies.size(), 0)
      })
    )
  )

  it.effect("drops a caller interrupted while it waits, writing the others", () =>
    withState(MemoryStateStore.layer, (state, script, locks) =>
      Effect.gen(function* () {
        const gate = { reading: yield* Deferred.make<void>(), open: yield* Deferred.make<void>() }
        script.gate = gate
        const leader = yield* Effect.forkChild(state.modify("count", increment))
        yield* Deferred.await(gate.reading)
        const waiters = yield* Effect.forEach(range(1, 3), () => Effect.forkChild(state.modify("count", increment)))
        yield* settle
        yield* Fiber.interrupt(waiters[1] as Fiber.Fiber<Schema.Json, unknown>)
        yield* Deferred.succeed(gate.open, undefined)
        assert.strictEqual(yield* Fiber.join(leader), 1)
        const written = yield* Effect.forEach([waiters[0], waiters[2]] as const, (fiber) => Fiber.join(fiber))
        assert.deepStrictEqual(ascending(written), [2, 3])
        assert.deepStrictEqual(yield* state.get("count"), Option.some(3))
        assert.strictEqual(locks.modifies.size(), 0)
      })
    )
  )

  it.live("keeps all of 200 concurrent increments over PGlite, in few writes", () =>
    withState(PgliteStore.layer(), (state, script) =>
      Effect.gen(function* () {
        const results = yield* Effect.all(
          Array.from({ length: 200 }, () => state.modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(ascending(results), range(1, 200))
        assert.deepStrictEqual(yield* state.get("count"), Option.some(200))
        assert.isAtMost(script.calls.compareAndSet, 10)
      })
    )
  )
})
