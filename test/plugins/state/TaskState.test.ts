import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import type { StateNotSerializable, StateTooLarge } from "../../../src/plugins/state/errors.ts"
import {
  clearTaskState,
  TaskState,
  type TaskStateModifyError,
  type TaskStateOptions
} from "../../../src/plugins/state/TaskState.ts"
import { TaskInfo } from "../../../src/runtime/TaskInfo.ts"
import { MemoryStateStore } from "../../../src/stores/index.ts"
import { StateStore } from "../../../src/stores/StateStore.ts"

/** Counts the calls a state store gets; `yieldOnRead` yields on every read, as a database round trip does. */
const countingStore = (options: { readonly yieldOnRead?: boolean } = {}) => {
  const calls = { get: 0, getAll: 0, put: 0, compareAndSet: 0, conflicts: 0 }
  const layer = Layer.effect(
    StateStore,
    Effect.map(Effect.service(StateStore), (inner) =>
      StateStore.of({
        ...inner,
        get: (scope, key) => {
          calls.get++
          const read = inner.get(scope, key)
          return options.yieldOnRead === true ? Effect.tap(read, () => Effect.yieldNow) : read
        },
        getAll: (scope) => {
          calls.getAll++
          return inner.getAll(scope)
        },
        put: (scope, entries) => {
          calls.put++
          return inner.put(scope, entries)
        },
        compareAndSet: (scope, key, expected, entry) => {
          calls.compareAndSet++
          return Effect.map(inner.compareAndSet(scope, key, expected, entry), (won) => {
            if (!won) calls.conflicts++
            return won
          })
        }
      })
    )
  ).pipe(Layer.provide(MemoryStateStore.layer))
  return { calls, layer }
}

interface Task {
  readonly id: string
  readonly sessionId?: string | undefined
}

/** The `TaskState` of one task over the store in context: a separate execution, as the runtime builds one. */
const stateOf = (task: Task, options: Partial<TaskStateOptions> = {}) =>
  Effect.service(TaskState).pipe(
    Effect.provide(
      TaskState.layer({ locks: TaskState.makeLocks(), ...options }).pipe(Layer.provide(TaskInfo.layerTest(task)))
    )
  )

/** Runs `body` with the state of task `task-1` over a fresh counting memory store. */
const withState = <A, E>(
  body: (
    state: TaskState["Service"],
    calls: ReturnType<typeof countingStore>["calls"]
  ) => Effect.Effect<A, E, StateStore>,
  options: Partial<TaskStateOptions> = {}
) => {
  const { calls, layer } = countingStore()
  return Effect.flatMap(stateOf({ id: "task-1" }, options), (state) => body(state, calls)).pipe(Effect.provide(layer))
}

const rawScope = (scope: string) => StateStore.use((store) => store.getAll(scope))

const increment = (n: Option.Option<Schema.Json>) => Number(Option.getOrElse(n, () => 0)) + 1

describe("TaskState", () => {
  it.effect("reads what it wrote, and None for a key never written", () =>
    withState((state) =>
      Effect.gen(function* () {
        assert.isTrue(Option.isNone(yield* state.get("missing")))
        yield* state.set("doc", { title: "plan", tags: ["a", "b"], done: false, n: null })
        assert.deepStrictEqual(
          yield* state.get("doc"),
          Option.some({ title: "plan", tags: ["a", "b"], done: false, n: null })
        )
      })
    )
  )

  it.effect("stores arrays, nested and empty ones included", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.set("matrix", [[1, 2], [], [{ a: ["b"] }]])
        assert.deepStrictEqual(yield* state.get("matrix"), Option.some([[1, 2], [], [{ a: ["b"] }]]))
      })
    )
  )

  it.effect("has every write in the store, under the task's scope, when the call returns", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.set("a", 1)
        yield* state.update({ b: 2 })
        yield* state.modify("c", () => 3)
        const stored = yield* rawScope("task:task-1")
        assert.deepStrictEqual(
          [...stored].map(([key, entry]) => [key, entry.value]),
          [
            ["a", 1],
            ["b", 2],
            ["c", 3]
          ]
        )
      })
    )
  )

  it.effect("drops undefined properties of objects, as JSON does", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.set("o", { kept: 1, dropped: undefined })
        assert.deepStrictEqual(yield* state.get("o"), Option.some({ kept: 1 }))
      })
    )
  )

  it.effect("returns the fallback of getOr only when the key is absent", () =>
    withState((state) =>
      Effect.gen(function* () {
        assert.strictEqual(yield* state.getOr("n", 42), 42)
        yield* state.set("n", 0)
        const n: number = yield* state.getOr("n", 42) // typed from the fallback
        assert.strictEqual(n, 0)
      })
    )
  )

  it.effect("fails getOr with StateDecodeError when the stored value is not of the fallback's JSON type", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.update({ n: "seven", list: { a: 1 }, obj: [1], any: "x" })
        const error = yield* Effect.flip(state.getOr("n", 0))
        assert.strictEqual(error._tag, "StateDecodeError")
        if (error._tag === "StateDecodeError") assert.include(error.issue, "not a number")
        assert.strictEqual((yield* Effect.flip(state.getOr("list", [])))._tag, "StateDecodeError")
        assert.strictEqual((yield* Effect.flip(state.getOr("obj", {})))._tag, "StateDecodeError")
        assert.strictEqual(yield* state.getOr("any", null), "x")
        assert.deepStrictEqual(yield* state.get("n"), Option.some("seven"), "nothing was changed")
      })
    )
  )

  it.effect("returns every entry from getAll", () =>
    withState((state) =>
      Effect.gen(function* () {
        assert.deepStrictEqual(yield* state.getAll(), {})
        yield* state.set("a", 1)
        yield* state.set("b", "two")
        assert.deepStrictEqual(yield* state.getAll(), { a: 1, b: "two" })
      })
    )
  )

  it.effect("writes every key of update in one store write and returns the whole state", () =>
    withState((state, calls) =>
      Effect.gen(function* () {
        yield* state.set("kept", true)
        const putsBefore = calls.put
        const all = yield* state.update({ a: 1, b: [2], c: { d: "e" } })
        assert.strictEqual(calls.put - putsBefore, 1)
        assert.deepStrictEqual(all, { kept: true, a: 1, b: [2], c: { d: "e" } })
        assert.deepStrictEqual(yield* state.getAll(), all)
      })
    )
  )

  it.effect("writes nothing from update when one of its values is not JSON", () =>
    withState((state, calls) =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(state.update({ good: 1, bad: () => 1 }))
        assert.strictEqual(error._tag, "StateNotSerializable")
        assert.strictEqual((error as StateNotSerializable).key, "bad")
        assert.strictEqual(calls.put, 0)
        assert.deepStrictEqual(yield* state.getAll(), {})
      })
    )
  )

  it.effect("deletes one key and clears all of them", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.update({ a: 1, b: 2, c: 3 })
        yield* state.delete("a")
        yield* state.delete("never-written")
        assert.deepStrictEqual(yield* state.getAll(), { b: 2, c: 3 })
        yield* state.clear()
        assert.deepStrictEqual(yield* state.getAll(), {})
        assert.strictEqual((yield* rawScope("task:task-1")).size, 0)
      })
    )
  )

  it.effect("modifies a value from None, then from the current one, and returns the new value", () =>
    withState((state) =>
      Effect.gen(function* () {
        const seen: Array<Option.Option<Schema.Json>> = []
        const push = (item: string) => (current: Option.Option<Schema.Json>) => {
          seen.push(current)
          return [...(Option.getOrElse(current, () => []) as ReadonlyArray<string>), item]
        }
        assert.deepStrictEqual(yield* state.modify("list", push("a")), ["a"])
        assert.deepStrictEqual(yield* state.modify("list", push("b")), ["a", "b"])
        assert.deepStrictEqual(seen, [Option.none(), Option.some(["a"])])
        assert.deepStrictEqual(yield* state.get("list"), Option.some(["a", "b"]))
      })
    )
  )

  it.effect("modifies with an effectful function, and writes nothing when it fails", () =>
    withState((state) =>
      Effect.gen(function* () {
        yield* state.set("n", 1)
        assert.strictEqual(yield* state.modifyEffect("n", (n) => Effect.succeed(increment(n))), 2)
        const error = yield* Effect.flip(state.modifyEffect("n", () => Effect.fail("refused" as const)))
        assert.strictEqual(error, "refused")
        assert.deepStrictEqual(yield* state.get("n"), Option.some(2))
      })
    )
  )

  describe("refuses a value that is not JSON, naming the key and the reason, and writes nothing", () => {
    class Point {
      readonly x: number
      constructor(x: number) {
        this.x = x
      }
    }
    const circular: Record<string, unknown> = { name: "loop" }
    circular.self = circular
    const cases: ReadonlyArray<readonly [string, unknown, string]> = [
      ["a function", { run: () => 1 }, "$.run is a function"],
      ["a symbol", Symbol("s"), "$ is a symbol"],
      ["a BigInt", { big: 10n }, "$.big is a BigInt"],
      ["a circular reference", circular, "$.self is a circular reference"],
      ["undefined in an array", [1, undefined, 3], "$[1] is undefined"],
      ["NaN", { n: Number.NaN }, "$.n is NaN"],
      ["Infinity", [Number.POSITIVE_INFINITY], "$[0] is Infinity"],
      ["a class instance", { at: new Point(1) }, "$.at is an instance of Point"],
      ["a Date", new Date(0), "$ is an instance of Date"],
      ["a Map", new Map([["k", 1]]), "$ is an instance of Map"],
      ["undefined itself", undefined, "$ is undefined"],
      ["text with U+0000", { note: "a\u0000b" }, "$.note holds the character U+0000"],
      ["a key with a lone surrogate", { "\ud800": 1 }, "a key of $ holds a lone UTF-16 surrogate"]
    ]
    for (const [what, value, reason] of cases) {
      it.effect(what, () =>
        withState((state, calls) =>
          Effect.gen(function* () {
            const attempts: ReadonlyArray<Effect.Effect<unknown, TaskStateModifyError>> = [
              state.set("bad", value),
              state.update({ bad: value }),
              state.modify("bad", () => value)
            ]
            for (const attempt of attempts) {
              const error = yield* Effect.flip(attempt)
              assert.strictEqual(error._tag, "StateNotSerializable")
              const notSerializable = error as StateNotSerializable
              assert.strictEqual(notSerializable.key, "bad")
              assert.include(notSerializable.reason, reason)
              assert.include(notSerializable.message, `"bad"`)
            }
            assert.deepStrictEqual([calls.put, calls.compareAndSet], [0, 0])
            assert.strictEqual((yield* rawScope("task:task-1")).size, 0)
          })
        )
      )
    }
  })

  it.effect("refuses a value over the size limit in bytes of UTF-8 JSON, and writes nothing", () =>
    withState(
      (state, calls) =>
        Effect.gen(function* () {
          yield* state.set("fits", "x".repeat(14)) // 16 bytes with its quotes
          const error = yield* Effect.flip(state.set("big", "é".repeat(8))) // 2 bytes each, 18 with the quotes
          assert.strictEqual(error._tag, "StateTooLarge")
          const { key, sizeBytes, limitBytes } = error as StateTooLarge
          assert.deepStrictEqual([key, sizeBytes, limitBytes], ["big", 18, 16])
          assert.strictEqual((yield* Effect.flip(state.update({ ok: 1, big: "x".repeat(20) })))._tag, "StateTooLarge")
          assert.strictEqual(
            (yield* Effect.flip(state.modify("fits", (s) => `${Option.getOrThrow(s)}!`)))._tag,
            "StateTooLarge"
          )
          assert.strictEqual(calls.put, 1)
          assert.deepStrictEqual(yield* state.getAll(), { fits: "x".repeat(14) })
        }),
      { sizeLimitBytes: 16 }
    )
  )

  describe("TTL", () => {
    it.effect("reads an entry as absent once the default TTL has passed, in get, getOr and getAll", () =>
      withState(
        (state) =>
          Effect.gen(function* () {
            yield* state.set("draft", "v1")
            yield* TestClock.adjust("59 seconds")
            assert.deepStrictEqual(yield* state.get("draft"), Option.some("v1"))
            yield* state.set("later", 1)
            yield* TestClock.adjust("1 second")
            assert.isTrue(Option.isNone(yield* state.get("draft")))
            assert.strictEqual(yield* state.getOr("draft", "gone"), "gone")
            assert.deepStrictEqual(yield* state.getAll(), { later: 1 })
            assert.deepStrictEqual(yield* state.update({ more: 2 }), { later: 1, more: 2 })
          }),
        { ttl: "1 minute" }
      )
    )

    it.effect("lets a write's TTL override the default, and Infinity keep it forever", () =>
      withState(
        (state) =>
          Effect.gen(function* () {
            yield* state.set("short", 1, { ttl: "10 seconds" })
            yield* state.set("forever", 2, { ttl: "Infinity" })
            yield* state.update({ batch: 3 }, { ttl: "30 seconds" })
            yield* state.set("default", 4)
            yield* TestClock.adjust("10 seconds")
            assert.deepStrictEqual(yield* state.getAll(), { forever: 2, batch: 3, default: 4 })
            yield* TestClock.adjust("20 seconds")
            assert.deepStrictEqual(yield* state.getAll(), { forever: 2, default: 4 })
            yield* TestClock.adjust("1 hour")
            assert.deepStrictEqual(yield* state.getAll(), { forever: 2 })
          }),
        { ttl: "1 minute" }
      )
    )

    it.effect("lets a scope's TTL replace the default, and a write's TTL override the scope's", () =>
      withState(
        (state) =>
          Effect.gen(function* () {
            const cache = state.scope("cache", { ttl: "5 seconds" })
            yield* cache.set("hit", 1)
            yield* cache.set("pinned", 2, { ttl: "1 hour" })
            yield* state.set("own", 3)
            yield* TestClock.adjust("5 seconds")
            assert.deepStrictEqual(yield* cache.getAll(), { pinned: 2 })
            assert.deepStrictEqual(yield* state.getAll(), { own: 3 })
            // A scope reached from another scope gets the plugin's default, not the other scope's TTL.
            yield* cache.scope("other").set("k", 1)
            yield* TestClock.adjust("10 seconds")
            assert.deepStrictEqual(yield* state.scope("other").get("k"), Option.some(1))
          }),
        { ttl: "1 minute" }
      )
    )

    it.effect("gives modify None for an expired key, and a fresh TTL to what it writes then", () =>
      withState(
        (state) =>
          Effect.gen(function* () {
            yield* state.set("count", 41)
            yield* TestClock.adjust("1 minute")
            const seen: Array<Option.Option<Schema.Json>> = []
            const next = yield* state.modify("count", (n) => {
              seen.push(n)
              return increment(n)
            })
            assert.strictEqual(next, 1)
            assert.deepStrictEqual(seen, [Option.none()])
            yield* TestClock.adjust("59 seconds")
            assert.deepStrictEqual(yield* state.get("count"), Option.some(1))
            yield* TestClock.adjust("1 second")
            assert.isTrue(Option.isNone(yield* state.get("count")))
          }),
        { ttl: "1 minute" }
      )
    )

    it.effect("keeps a live entry's expiry through modify unless modify gives a TTL", () =>
      withState(
        (state) =>
          Effect.gen(function* () {
            yield* state.set("window", 0, { ttl: "10 seconds" })
            yield* TestClock.adjust("6 seconds")
            yield* state.modify("window", increment)
            yield* TestClock.adjust("4 seconds")
            assert.isTrue(Option.isNone(yield* state.get("window")), "the 10 second window did not move")
            yield* state.set("renewed", 0, { ttl: "10 seconds" })
            yield* TestClock.adjust("6 seconds")
            yield* state.modify("renewed", increment, { ttl: "10 seconds" })
            yield* TestClock.adjust("9 seconds")
            assert.deepStrictEqual(yield* state.get("renewed"), Option.some(1))
          }),
        { ttl: "1 minute" }
      )
    )
  })

  describe("scopes", () => {
    it.effect("shares the session scope between the tasks of one session, and only them", () =>
      Effect.gen(function* () {
        const step1 = yield* stateOf({ id: "step-1", sessionId: "dialog-1" })
        const step2 = yield* stateOf({ id: "step-2", sessionId: "dialog-1" })
        const stranger = yield* stateOf({ id: "other", sessionId: "dialog-2" })
        yield* step1.scope("session").set("answer", "yes")
        yield* step1.set("private", 1)
        assert.deepStrictEqual(yield* step2.scope("session").get("answer"), Option.some("yes"))
        assert.isTrue(Option.isNone(yield* step2.get("private")), "a task's own scope is its own")
        assert.isTrue(Option.isNone(yield* stranger.scope("session").get("answer")))
        assert.deepStrictEqual([...(yield* rawScope("session:dialog-1")).keys()], ["answer"])
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )

    it.effect("shares a named scope between any tasks that name it", () =>
      Effect.gen(function* () {
        const a = yield* stateOf({ id: "a" })
        const b = yield* stateOf({ id: "b", sessionId: "s" })
        yield* a.scope("inventory").update({ apples: 3 })
        yield* b.scope("inventory").modify("apples", (n) => Number(Option.getOrElse(n, () => 0)) - 1)
        assert.deepStrictEqual(yield* a.scope("inventory").getAll(), { apples: 2 })
        assert.isTrue(Option.isNone(yield* a.scope("other").get("apples")))
        assert.deepStrictEqual((yield* rawScope("named:inventory")).get("apples")?.value, 2)
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )

    it.effect("fails with NotInSession when a task outside a session uses the session scope, writing nothing", () =>
      Effect.gen(function* () {
        const state = yield* stateOf({ id: "lonely" })
        const read = yield* Effect.flip(state.scope("session").get("x"))
        assert.strictEqual(read._tag, "NotInSession")
        const written = yield* Effect.flip(state.scope("session").set("x", 1))
        assert.strictEqual(written._tag, "NotInSession")
        if (written._tag === "NotInSession") assert.strictEqual(written.taskId, "lonely")
        const modified = yield* Effect.flip(state.scope("session").modify("x", () => 1))
        assert.strictEqual(modified._tag, "NotInSession")
        const typed = yield* TaskState.typed(Schema.Struct({ x: Schema.Number }), { scope: "session" }).pipe(
          Effect.provideService(TaskState, state)
        )
        assert.strictEqual((yield* Effect.flip(typed.set("x", 1)))._tag, "NotInSession")
        assert.strictEqual((yield* rawScope("session:undefined")).size, 0)
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )

    it.effect("clears a task's own scope with clearTaskState, not its session's", () =>
      Effect.gen(function* () {
        const state = yield* stateOf({ id: "done", sessionId: "s" })
        const other = yield* stateOf({ id: "other" })
        yield* state.update({ a: 1, b: 2 })
        yield* state.scope("session").set("kept", true)
        yield* other.set("a", 1)
        yield* clearTaskState("done")
        assert.deepStrictEqual(yield* state.getAll(), {})
        assert.deepStrictEqual(yield* state.scope("session").getAll(), { kept: true })
        assert.deepStrictEqual(yield* other.getAll(), { a: 1 })
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )
  })

  describe("concurrency", () => {
    it.effect("keeps every one of 1000 concurrent increments", () => {
      const { calls, layer } = countingStore({ yieldOnRead: true })
      return Effect.gen(function* () {
        const state = yield* stateOf({ id: "task-1" })
        yield* Effect.all(
          Array.from({ length: 1000 }, () => state.modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(yield* state.get("count"), Option.some(1000))
        assert.strictEqual(calls.conflicts, 0, "the scope's lock leaves nothing for compare-and-set to catch")
      }).pipe(Effect.provide(layer))
    })

    it.effect("keeps every increment of set, update and modify racing on one key", () => {
      const { layer } = countingStore({ yieldOnRead: true })
      return Effect.gen(function* () {
        const state = yield* stateOf({ id: "task-1" })
        yield* Effect.all(
          Array.from({ length: 300 }, (_, i) =>
            i === 150
              ? state.update({ other: i })
              : i === 200
                ? state.set("other", i)
                : state.modify("count", increment)
          ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(yield* state.get("count"), Option.some(298))
      }).pipe(Effect.provide(layer))
    })

    it.effect("shares a scope's lock between the tasks of one plugin, so their writes never conflict", () => {
      const { calls, layer } = countingStore({ yieldOnRead: true })
      return Effect.gen(function* () {
        const locks = TaskState.makeLocks()
        const first = (yield* stateOf({ id: "t1" }, { locks })).scope("counter")
        const second = (yield* stateOf({ id: "t2" }, { locks })).scope("counter")
        yield* Effect.all(
          Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? first : second).modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(yield* second.get("count"), Option.some(400))
        assert.strictEqual(calls.conflicts, 0)
      }).pipe(Effect.provide(layer))
    })

    it.effect("keeps every increment across processes: separate locks, one store, compare-and-set", () => {
      const { calls, layer } = countingStore({ yieldOnRead: true })
      return Effect.gen(function* () {
        // Two runtimes (two plugin instances, two lock registries) over one database.
        const first = (yield* stateOf({ id: "p1", sessionId: "shared" })).scope("session")
        const second = (yield* stateOf({ id: "p2", sessionId: "shared" })).scope("session")
        yield* Effect.all(
          Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? first : second).modify("count", increment)),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(yield* first.get("count"), Option.some(400))
        assert.isAbove(calls.conflicts, 0, "the two processes raced, and compare-and-set caught it")
      }).pipe(Effect.provide(layer))
    })

    it.effect("fails with StateConflict after 100 lost compare-and-sets, having written nothing", () => {
      const alwaysLoses = Layer.effect(
        StateStore,
        Effect.map(Effect.service(StateStore), (inner) =>
          StateStore.of({ ...inner, compareAndSet: () => Effect.succeed(false) })
        )
      ).pipe(Layer.provide(MemoryStateStore.layer))
      return Effect.gen(function* () {
        const state = yield* stateOf({ id: "task-1" })
        const error = yield* Effect.flip(state.modify("k", () => 1))
        assert.deepStrictEqual(error._tag === "StateConflict" && [error.scope, error.key, error.attempts], [
          "task:task-1",
          "k",
          100
        ])
        assert.isTrue(Option.isNone(yield* state.get("k")))
      }).pipe(Effect.provide(alwaysLoses))
    })

    it.effect("locks one scope at a time: a held scope does not block another", () =>
      Effect.gen(function* () {
        const locks = TaskState.makeLocks()
        const a = yield* stateOf({ id: "a" }, { locks })
        const b = yield* stateOf({ id: "b" }, { locks })
        const release = yield* Deferred.make<void>()
        const holding = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(
          locks.withLock("task:a")(Effect.andThen(Deferred.succeed(holding, undefined), Deferred.await(release)))
        )
        yield* Deferred.await(holding)
        yield* b.set("free", 1)
        const blocked = yield* Effect.forkChild(a.set("waits", 1))
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        assert.isTrue(Option.isNone(yield* a.get("waits")), "task a's scope is held")
        assert.strictEqual(yield* locks.size, 1, "one lock for the held scope; task b's was dropped after use")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        yield* Fiber.join(blocked)
        assert.deepStrictEqual(yield* a.get("waits"), Option.some(1))
        assert.strictEqual(yield* locks.size, 0, "the registry forgets a scope nobody writes")
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )
  })

  it.effect("builds its layer without touching the store", () => {
    const untouchable = Layer.succeed(
      StateStore,
      StateStore.of({
        get: () => Effect.die("get"),
        getAll: () => Effect.die("getAll"),
        put: () => Effect.die("put"),
        compareAndSet: () => Effect.die("compareAndSet"),
        delete: () => Effect.die("delete"),
        clear: () => Effect.die("clear")
      })
    )
    return Effect.gen(function* () {
      const state = yield* stateOf({ id: "task-1", sessionId: "s" })
      state.scope("session")
      state.scope("named")
    }).pipe(Effect.provide(untouchable))
  })

  describe("typed", () => {
    const Dialog = Schema.Struct({
      step: Schema.Number.check(Schema.isGreaterThan(0)),
      answers: Schema.Array(Schema.String),
      startedAt: Schema.Date,
      note: Schema.optionalKey(Schema.String)
    })

    it.effect("round-trips values through their field's Schema, Date included", () =>
      withState((state) =>
        Effect.gen(function* () {
          const dialog = yield* TaskState.typed(Dialog).pipe(Effect.provideService(TaskState, state))
          assert.isTrue(Option.isNone(yield* dialog.get("step")))
          yield* dialog.set("step", 1)
          yield* dialog.set("answers", ["yes"])
          yield* dialog.set("startedAt", new Date(1_000))
          const step: Option.Option<number> = yield* dialog.get("step")
          assert.deepStrictEqual(step, Option.some(1))
          assert.deepStrictEqual(yield* dialog.get("startedAt"), Option.some(new Date(1_000)))
          assert.deepStrictEqual(yield* state.get("startedAt"), Option.some("1970-01-01T00:00:01.000Z"))
          assert.strictEqual(yield* dialog.modify("step", (n) => Option.getOrElse(n, () => 0) + 1), 2)
          assert.deepStrictEqual(yield* dialog.modify("answers", (a) => [...Option.getOrElse(a, () => []), "no"]), [
            "yes",
            "no"
          ])
          yield* state.set("untyped", "ignored")
          assert.deepStrictEqual(yield* dialog.getAll(), {
            step: 2,
            answers: ["yes", "no"],
            startedAt: new Date(1_000)
          })
          yield* dialog.delete("answers")
          assert.isTrue(Option.isNone(yield* dialog.get("answers")))
        })
      )
    )

    it.effect("refuses a value its field's Schema rejects, and writes nothing", () =>
      withState((state, calls) =>
        Effect.gen(function* () {
          const dialog = yield* TaskState.typed(Dialog).pipe(Effect.provideService(TaskState, state))
          const error = yield* Effect.flip(dialog.set("step", 0))
          assert.strictEqual(error._tag, "StateInvalidValue")
          assert.strictEqual(error._tag === "StateInvalidValue" && error.key, "step")
          assert.include(error.message, "greater than 0")
          const viaModify = yield* Effect.flip(dialog.modify("step", () => -1))
          assert.strictEqual(viaModify._tag, "StateInvalidValue")
          // @ts-expect-error the field is a number
          const wrongType = yield* Effect.flip(dialog.set("step", "one"))
          assert.strictEqual(wrongType._tag, "StateInvalidValue")
          assert.deepStrictEqual([calls.put, calls.compareAndSet], [0, 0])
        })
      )
    )

    it.effect("fails with StateDecodeError when a stored value no longer matches its Schema", () =>
      withState((state, calls) =>
        Effect.gen(function* () {
          const dialog = yield* TaskState.typed(Dialog).pipe(Effect.provideService(TaskState, state))
          yield* state.set("step", "three")
          const error = yield* Effect.flip(dialog.get("step"))
          assert.strictEqual(error._tag, "StateDecodeError")
          assert.strictEqual(error._tag === "StateDecodeError" && error.key, "step")
          assert.strictEqual((yield* Effect.flip(dialog.getAll()))._tag, "StateDecodeError")
          const casBefore = calls.compareAndSet
          assert.strictEqual(
            (yield* Effect.flip(dialog.modify("step", (n) => Option.getOrElse(n, () => 1))))._tag,
            "StateDecodeError"
          )
          assert.strictEqual(calls.compareAndSet, casBefore, "nothing was written")
          assert.deepStrictEqual(yield* state.get("step"), Option.some("three"))
        })
      )
    )

    it.effect("keeps typed keys in a shared scope when asked", () =>
      Effect.gen(function* () {
        const first = yield* stateOf({ id: "step-1", sessionId: "d" })
        const second = yield* stateOf({ id: "step-2", sessionId: "d" })
        const write = yield* TaskState.typed(Dialog, { scope: "session" }).pipe(Effect.provideService(TaskState, first))
        const read = yield* TaskState.typed(Dialog, { scope: "session" }).pipe(Effect.provideService(TaskState, second))
        yield* write.set("answers", ["a"])
        assert.deepStrictEqual(yield* read.get("answers"), Option.some(["a"]))
        assert.isTrue(Option.isNone(yield* second.get("answers")))
      }).pipe(Effect.provide(MemoryStateStore.layer))
    )
  })
})
