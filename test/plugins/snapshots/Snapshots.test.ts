import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { forkSnapshot, Snapshots, type SnapshotsOptions } from "../../../src/plugins/snapshots/Snapshots.ts"
import * as Versioned from "../../../src/plugins/versioning/Versioned.ts"
import { TaskInfo } from "../../../src/runtime/TaskInfo.ts"
import * as MemorySnapshotStore from "../../../src/stores/memory/MemorySnapshotStore.ts"
import { SnapshotStore } from "../../../src/stores/SnapshotStore.ts"
import { yieldingSnapshotStore } from "../../../src/testing/snapshotStoreSuite.ts"

const StoreLayer = yieldingSnapshotStore(MemorySnapshotStore.layer)

const layerFor = (options: SnapshotsOptions = {}, taskId = "task-1") =>
  Snapshots.layer(options).pipe(Layer.provideMerge(TaskInfo.layerTest({ id: taskId })), Layer.provideMerge(StoreLayer))

const TestLayer = layerFor()

const Counter = Schema.Struct({ count: Schema.Number, label: Schema.String })

class Point {
  readonly x: number
  readonly y: number
  constructor(x: number, y: number) {
    this.x = x
    this.y = y
  }
}

const nothingStored = Effect.gen(function* () {
  const store = yield* SnapshotStore
  assert.isTrue(Option.isNone(yield* store.latest("task-1")), "nothing was written")
})

describe("Snapshots", () => {
  it.effect("saves versions of the task's data and reads them back", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      yield* TestClock.adjust(42)
      const first = yield* snapshots.save({ step: 1 })
      const second = yield* snapshots.save({ step: 2 }, { checkpoint: true })
      assert.deepStrictEqual([first.version, second.version], [1, 2])
      assert.deepInclude(first, { taskId: "task-1", data: { step: 1 }, checkpoint: false, createdAt: 42 })
      assert.deepStrictEqual(
        Option.map(yield* snapshots.latest(), (s) => s.data),
        Option.some({ step: 2 })
      )
      assert.deepStrictEqual((yield* snapshots.get(1)).data, { step: 1 })
      assert.deepStrictEqual(
        (yield* snapshots.checkpoints()).map((s) => s.version),
        [2]
      )
      const missing = yield* Effect.flip(snapshots.get(7))
      assert.deepInclude(missing, { _tag: "SnapshotNotFound", taskId: "task-1", version: 7 })
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("resumes from the latest snapshot, or from the initial value when there is none", () =>
    Effect.gen(function* () {
      const counter = (yield* Snapshots).typed(Counter)
      assert.deepStrictEqual(yield* counter.latestOr({ count: 0, label: "new" }), { count: 0, label: "new" })
      yield* counter.save({ count: 5, label: "half-way" })
      assert.deepStrictEqual(yield* counter.latestOr({ count: 0, label: "new" }), { count: 5, label: "half-way" })
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("gives 100 concurrent saves the versions 1 to 100, each once", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const saved = yield* Effect.all(
        Array.from({ length: 100 }, (_, i) => Effect.andThen(snapshots.latest(), snapshots.save({ i }))),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        saved.map((s) => s.version).sort((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i + 1)
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("lists snapshots newest first, page by page", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      for (let i = 1; i <= 5; i++) yield* snapshots.save(i)
      const page = yield* snapshots.list({ limit: 2 })
      assert.deepStrictEqual(
        page.items.map((s) => s.data),
        [5, 4]
      )
      const next = yield* snapshots.list({ limit: 10, before: page.nextBefore })
      assert.deepStrictEqual(
        next.items.map((s) => s.data),
        [3, 2, 1]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("rolls back by saving an old version's data as a new latest version", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      yield* snapshots.save({ draft: "good" })
      yield* snapshots.save({ draft: "bad" })
      const rolledBack = yield* snapshots.rollback(1)
      assert.deepInclude(rolledBack, { version: 3, data: { draft: "good" }, checkpoint: false })
      assert.deepStrictEqual((yield* snapshots.get(2)).data, { draft: "bad" }, "history is kept")
      assert.deepStrictEqual(
        Option.map(yield* snapshots.latest(), (s) => s.version),
        Option.some(3)
      )
      const missing = yield* Effect.flip(snapshots.rollback(9))
      assert.strictEqual(missing._tag, "SnapshotNotFound")
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("prunes old snapshots, keeping checkpoints when asked", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      for (let i = 1; i <= 6; i++) yield* snapshots.save(i, { checkpoint: i === 2 })
      assert.strictEqual(yield* snapshots.prune({ keepLast: 2, keepCheckpoints: true }), 3)
      const left = yield* snapshots.list()
      assert.deepStrictEqual(
        left.items.map((s) => s.version),
        [6, 5, 2]
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("forks a version into a new task, which resumes from it", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      yield* snapshots.save({ branch: "main", step: 1 })
      yield* snapshots.save({ branch: "main", step: 2 })
      const forked = yield* snapshots.fork(1, "task-2")
      assert.deepInclude(forked, { taskId: "task-2", version: 1, origin: { taskId: "task-1", version: 1 } })
      const conflict = yield* Effect.flip(snapshots.fork(2, "task-2"))
      assert.deepInclude(conflict, { _tag: "SnapshotForkConflict", taskId: "task-2" })

      const viaFunction = yield* forkSnapshot("task-1", 2, "task-3")
      assert.deepStrictEqual(viaFunction.data, { branch: "main", step: 2 })
      const missing = yield* Effect.flip(forkSnapshot("task-1", 9, "task-4"))
      assert.deepInclude(missing, { _tag: "SnapshotNotFound", taskId: "task-1", version: 9 })

      const resumed = yield* Effect.flatMap(Snapshots, (s) => s.latestOr(null)).pipe(
        Effect.provide(Snapshots.layer().pipe(Layer.provide(TaskInfo.layerTest({ id: "task-2" }))))
      )
      assert.deepStrictEqual(resumed, { branch: "main", step: 1 })
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("refuses a snapshot over the size limit, writing nothing", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      yield* snapshots.save("x".repeat(90))
      const error = yield* Effect.flip(snapshots.save("x".repeat(100)))
      assert.deepInclude(error, { _tag: "SnapshotTooLarge", id: "task-1", sizeBytes: 102, limitBytes: 100 })
      const latest = yield* snapshots.latest()
      assert.deepStrictEqual(
        Option.map(latest, (s) => s.version),
        Option.some(1)
      )
      // Bytes, not characters: each "é" is two bytes of UTF-8.
      const wide = yield* Effect.flip(snapshots.save("é".repeat(50)))
      assert.strictEqual(wide._tag, "SnapshotTooLarge")
    }).pipe(Effect.provide(layerFor({ sizeLimitBytes: 100 })))
  )

  const cycle: Record<string, unknown> = { name: "loop" }
  cycle.self = cycle
  const sparse: Array<number> = [1]
  sparse[2] = 3

  const notSerializable: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a function", { run: () => 1 }, "$.run is a function"],
    ["a symbol", [Symbol("s")], "$[0] is a symbol"],
    ["a BigInt", { big: 10n }, "$.big is a BigInt"],
    ["a cycle", cycle, "$.self refers back"],
    ["NaN", { n: Number.NaN }, "$.n is NaN"],
    ["Infinity", { n: [Number.POSITIVE_INFINITY] }, "$.n[0] is Infinity"],
    ["undefined in an array", [1, undefined], "$[1] is undefined"],
    ["a hole in an array", sparse, "$[1] is undefined"],
    ["undefined itself", undefined, "$ is undefined"],
    ["a Date", { at: new Date(0) }, "$.at is an instance of Date"],
    ["a Map", new Map([["a", 1]]), "$ is an instance of Map"],
    ["a class instance", { p: new Point(1, 2) }, "$.p is an instance of Point"],
    ["symbol keys", { [Symbol("k")]: 1 }, "$ has symbol keys"],
    ["text with U+0000", { note: ["a\u0000b"] }, "$.note[0] holds the character U+0000"],
    ["a lone surrogate", "\udc00", "$ holds a lone UTF-16 surrogate"]
  ]

  for (const [what, value, reason] of notSerializable) {
    it.effect(`refuses ${what} with a reason, writing nothing`, () =>
      Effect.gen(function* () {
        const snapshots = yield* Snapshots
        const error = yield* Effect.flip(snapshots.save(value))
        assert.strictEqual(error._tag, "SnapshotNotSerializable")
        if (error._tag === "SnapshotNotSerializable") assert.include(error.reason, reason)
        yield* nothingStored
      }).pipe(Effect.provide(TestLayer))
    )
  }

  it.effect("leaves out object properties that are undefined, as JSON does", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      // JSON.parse makes "__proto__" an own key, as a value read from anywhere can have.
      const value = { ...JSON.parse('{"a":1,"__proto__":{"c":2}}'), b: undefined }
      const saved = yield* snapshots.save(value)
      assert.deepStrictEqual(Object.keys(saved.data as object), ["a", "__proto__"])
      assert.strictEqual(Object.getPrototypeOf(saved.data), Object.prototype)
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("checks data against a Schema on save and decodes it on read", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const Event = Schema.Struct({ at: Schema.Date, kind: Schema.Literals(["start", "stop"]) })
      const events = snapshots.typed(Event)
      const saved = yield* events.save({ at: new Date(1000), kind: "start" })
      assert.strictEqual(saved.data.at.getTime(), 1000)
      const stored = yield* snapshots.get(saved.version)
      assert.deepStrictEqual(stored.data, { at: "1970-01-01T00:00:01.000Z", kind: "start" })
      const read = yield* events.get(saved.version)
      assert.isTrue(read.data.at instanceof Date)

      const invalid = yield* Effect.flip(events.save({ at: new Date(0), kind: "pause" as "start" }))
      assert.deepInclude(invalid, { _tag: "SnapshotInvalid", taskId: "task-1" })
      assert.strictEqual((yield* snapshots.list()).items.length, 1, "nothing was written")

      yield* snapshots.save({ at: "not a date", kind: "start" })
      const undecodable = yield* Effect.flip(events.latest())
      assert.deepInclude(undecodable, { _tag: "SnapshotInvalid", taskId: "task-1", version: 2 })
      const rollback = yield* Effect.flip(events.rollback(2))
      assert.strictEqual(rollback._tag, "SnapshotInvalid")
      assert.strictEqual(
        (yield* snapshots.list()).items.length,
        2,
        "a rollback to an unreadable version writes nothing"
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("records the data version of versioned data and migrates older snapshots on read", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const V1 = Schema.Struct({ total: Schema.Number })
      const Progress1 = Versioned.make(V1)
      const Progress2 = Progress1.migrate(Schema.Struct({ done: Schema.Number, total: Schema.Number }), (v1) => ({
        done: 0,
        total: v1.total
      }))
      const old = yield* snapshots.typed(Progress1).save({ total: 10 })
      assert.strictEqual(old.dataVersion, 1)
      const migrated = yield* snapshots.typed(Progress2).latest()
      assert.deepStrictEqual(
        Option.map(migrated, (s) => s.data),
        Option.some({ done: 0, total: 10 })
      )
      const current = yield* snapshots.typed(Progress2).save({ done: 3, total: 10 })
      assert.strictEqual(current.dataVersion, 2)

      const newer = yield* Effect.flip(snapshots.typed(Progress1).latest())
      assert.deepInclude(newer, { _tag: "UnknownDataVersion", version: 2, currentVersion: 1 })

      const Broken = Progress1.migrate(V1, () => Effect.fail("no way"))
      const failed = yield* Effect.flip(snapshots.typed(Broken).get(old.version))
      assert.deepInclude(failed, { _tag: "MigrationFailed", fromVersion: 1, toVersion: 2 })
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("saves a snapshot on every N-th state write and after every step, as the policy says", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const saved: Array<number> = []
      for (let write = 1; write <= 7; write++) {
        const snapshot = yield* snapshots.observe("stateWrite", Effect.succeed({ write }))
        if (Option.isSome(snapshot)) saved.push(write)
      }
      assert.deepStrictEqual(saved, [3, 6])
      const afterStep = yield* snapshots.observe("step", Effect.succeed("step done"))
      assert.deepStrictEqual(
        Option.map(afterStep, (s) => s.data),
        Option.some("step done")
      )
    }).pipe(Effect.provide(layerFor({ policy: { everyStateWrites: 3, afterEveryStep: true } })))
  )

  it.effect("saves nothing on events the policy does not ask for, and runs no capture", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const capture = Effect.die("the capture must not run")
      assert.isTrue(Option.isNone(yield* snapshots.observe("step", capture)))
      assert.isTrue(Option.isNone(yield* snapshots.observe("stateWrite", capture)))
      yield* nothingStored
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("checks a staged value at once and writes nothing", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      yield* snapshots.stage({ fine: true })
      const error = yield* Effect.flip(snapshots.stage({ bad: () => 1 }))
      assert.strictEqual(error._tag, "SnapshotNotSerializable")
      yield* nothingStored
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("refuses a damaged snapshot on every read, and a rollback or fork of it writes nothing", () =>
    Effect.gen(function* () {
      const snapshots = yield* Snapshots
      const store = yield* SnapshotStore
      yield* snapshots.save({ step: 1 })
      yield* snapshots.save({ step: 2 }, { checkpoint: true })
      // still JSON of the right shape: only the checksum tells it from what was saved
      yield* MemorySnapshotStore.corrupt(store, { taskId: "task-1", version: 2 }, (stored) => ({
        ...stored,
        record: { ...stored.record, data: { step: 3 } }
      }))
      const typed = snapshots.typed(Schema.Struct({ step: Schema.Number }))
      const reads: ReadonlyArray<Effect.Effect<unknown, unknown, SnapshotStore>> = [
        snapshots.latest(),
        snapshots.latestOr({ step: 0 }),
        snapshots.get(2),
        snapshots.list(),
        snapshots.checkpoints(),
        snapshots.rollback(2),
        snapshots.fork(2, "copy"),
        typed.latestOr({ step: 0 }),
        forkSnapshot("task-1", 2, "copy")
      ]
      for (const read of reads) {
        assert.deepInclude(yield* Effect.flip(read), { _tag: "SnapshotCorrupted", key: "task-1", version: 2 })
      }
      assert.deepStrictEqual((yield* snapshots.get(1)).data, { step: 1 })
      assert.deepStrictEqual((yield* snapshots.list({ before: 2 })).items.length, 1)
      assert.isTrue(Option.isNone(yield* store.get("task-1", 3)), "the rollback wrote nothing")
      assert.isTrue(Option.isNone(yield* store.latest("copy")), "the forks wrote nothing")
    }).pipe(
      // the memory store itself, not wrapped: `corrupt` reaches its rows through it
      Effect.provide(
        Snapshots.layer().pipe(
          Layer.provideMerge(TaskInfo.layerTest({ id: "task-1" })),
          Layer.provideMerge(MemorySnapshotStore.layer)
        )
      )
    )
  )
})
