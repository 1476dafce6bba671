/**
 * Two store layers are two stores, on every backend: one provided inside a program that provides another, or both in
 * one layer graph side by side, never lend each other their stores. (Effect memoises a layer by value across a
 * program: a store part shared by every store layer was built once, over the first database opened.)
 */
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { MemoryStore, MemoryTaskStore, TaskStore } from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import { tempDir } from "./postgres/pgliteTemplate.ts"
import * as TestDatabase from "./postgres/TestDatabase.ts"

/** The ids of the tasks a store holds, sorted. */
const idsIn = (store: TaskStore["Service"]) =>
  Effect.map(store.list({}), (page) => page.items.map((task) => task.id).sort())

/** Creates a task `id` in the store in context and returns the ids that store then holds. */
const createAndList = (id: string) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    yield* store.create({ id, name: "job", input: null })
    return yield* idsIn(store)
  })

/** Runs `inner` provided inside a program that provides `outer`, each creating a task; the ids each then holds. */
const nested = <E1, E2>(outer: Layer.Layer<TaskStore, E1>, inner: Layer.Layer<TaskStore, E2>) =>
  Effect.gen(function* () {
    const outerStore = yield* TaskStore
    yield* outerStore.create({ id: "outer", name: "job", input: null })
    const innerIds = yield* createAndList("inner").pipe(Effect.provide(inner))
    return { outer: yield* idsIn(outerStore), inner: innerIds }
  }).pipe(Effect.provide(outer))

class Left extends Context.Service<Left, TaskStore["Service"]>()("test/Left") {}
class Right extends Context.Service<Right, TaskStore["Service"]>()("test/Right") {}

/** Both stores built in one layer graph, each creating a task; the ids each then holds. */
const sideBySide = <E1, E2>(left: Layer.Layer<TaskStore, E1>, right: Layer.Layer<TaskStore, E2>) =>
  Effect.gen(function* () {
    const [a, b] = [yield* Left, yield* Right]
    yield* a.create({ id: "left", name: "job", input: null })
    yield* b.create({ id: "right", name: "job", input: null })
    return { left: yield* idsIn(a), right: yield* idsIn(b) }
  }).pipe(
    Effect.provide(
      Layer.merge(
        Layer.effect(Left, Effect.service(TaskStore)).pipe(Layer.provide(left)),
        Layer.effect(Right, Effect.service(TaskStore)).pipe(Layer.provide(right))
      )
    )
  )

describe("store layers", () => {
  it.effect(
    "a PGlite store in another folder, provided inside or beside one, writes to its own folder",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const [x, y] = [join(dir, "x"), join(dir, "y")]
        const inside = yield* nested(PgliteStore.layer({ dataDir: x }), PgliteStore.layer({ dataDir: y }))
        assert.deepStrictEqual(inside, { outer: ["outer"], inner: ["inner"] })
        // reopened alone, each folder holds what its own store wrote
        assert.deepStrictEqual(yield* createAndList("later").pipe(Effect.provide(PgliteStore.layer({ dataDir: y }))), [
          "inner",
          "later"
        ])
        const beside = yield* sideBySide(PgliteStore.layer({ dataDir: x }), PgliteStore.layer({ dataDir: y }))
        assert.deepStrictEqual(beside, { left: ["left", "outer"], right: ["inner", "later", "right"] })
      }),
    60_000 // two fresh folders run initdb: seconds each
  )

  it.effect(
    "an in-memory PGlite store, provided inside or beside one in a folder or another in memory, is its own",
    () =>
      Effect.gen(function* () {
        const dataDir = join(yield* tempDir, "data")
        const inFolder = yield* nested(PgliteStore.layer({ dataDir }), PgliteStore.layer())
        assert.deepStrictEqual(inFolder, { outer: ["outer"], inner: ["inner"] })
        const inMemory = yield* nested(PgliteStore.layer(), PgliteStore.layer())
        assert.deepStrictEqual(inMemory, { outer: ["outer"], inner: ["inner"] })
        const beside = yield* sideBySide(PgliteStore.layer(), PgliteStore.layer())
        assert.deepStrictEqual(beside, { left: ["left"], right: ["right"] })
      }),
    60_000
  )

  it.effect("MemoryStore.layer never borrows a task store provided around or beside it", () =>
    Effect.gen(function* () {
      const inside = yield* nested(MemoryTaskStore.layer, MemoryStore.layer)
      assert.deepStrictEqual(inside, { outer: ["outer"], inner: ["inner"] })
      const beside = yield* sideBySide(MemoryTaskStore.layer, MemoryStore.layer)
      assert.deepStrictEqual(beside, { left: ["left"], right: ["right"] })
      // one layer value is one set of stores; Layer.fresh makes another
      const again = yield* nested(MemoryStore.layer, MemoryStore.layer)
      assert.deepStrictEqual(again, { outer: ["inner", "outer"], inner: ["inner", "outer"] })
      const fresh = yield* nested(MemoryStore.layer, Layer.fresh(MemoryStore.layer))
      assert.deepStrictEqual(fresh, { outer: ["outer"], inner: ["inner"] })
    })
  )

  describe.skipIf(TestDatabase.noServer)("on a server: needs DATABASE_URL", () => {
    it.effect("a server store on another database, provided inside or beside one, migrates and uses its own", () =>
      Effect.gen(function* () {
        const adminUrl = TestDatabase.adminUrl
        const [a, b] = [yield* TestDatabase.scoped(adminUrl), yield* TestDatabase.scoped(adminUrl)]
        const inside = yield* nested(PostgresStore.layer({ url: a }), PostgresStore.layer({ url: b }))
        assert.deepStrictEqual(inside, { outer: ["outer"], inner: ["inner"] })
        const beside = yield* sideBySide(PostgresStore.layer({ url: a }), PostgresStore.layer({ url: b }))
        assert.deepStrictEqual(beside, { left: ["left", "outer"], right: ["inner", "right"] })
      })
    )
  })
})
