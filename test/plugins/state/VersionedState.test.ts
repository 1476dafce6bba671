import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { TaskState } from "../../../src/plugins/state/TaskState.ts"
import { versionedState } from "../../../src/plugins/state/VersionedState.ts"
import * as Versioned from "../../../src/plugins/versioning/Versioned.ts"
import { TaskInfo } from "../../../src/runtime/TaskInfo.ts"
import { MemoryStateStore } from "../../../src/stores/index.ts"

const V1 = Versioned.make(Schema.Struct({ name: Schema.String }))
const V2 = V1.migrate(Schema.Struct({ first: Schema.String, last: Schema.String }), ({ name }) => {
  const [first = "", last = ""] = name.split(" ")
  return { first, last }
})

const TestLayer = TaskState.layer({ locks: TaskState.makeLocks() }).pipe(
  Layer.provide([TaskInfo.layerTest({ id: "task-1" }), MemoryStateStore.layer])
)

describe("versionedState", () => {
  it.effect("reads a value written by an older version through its migrations", () =>
    Effect.gen(function* () {
      const old = yield* versionedState("profile", V1)
      yield* old.set({ name: "Ada Lovelace" })
      const current = yield* versionedState("profile", V2)
      assert.deepStrictEqual(yield* current.get, Option.some({ first: "Ada", last: "Lovelace" }))
      yield* current.set({ first: "Grace", last: "Hopper" })
      const state = yield* TaskState
      assert.deepStrictEqual(
        yield* state.get("profile"),
        Option.some({ version: 2, data: { first: "Grace", last: "Hopper" } })
      )
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("reads a value stored before the key was versioned as version 1", () =>
    Effect.gen(function* () {
      const state = yield* TaskState
      yield* state.set("profile", { name: "Alan Turing" })
      const current = yield* versionedState("profile", V2)
      assert.deepStrictEqual(yield* current.get, Option.some({ first: "Alan", last: "Turing" }))
    }).pipe(Effect.provide(TestLayer))
  )

  it.effect("fails with UnknownDataVersion for a value of a newer version, and never returns it", () =>
    Effect.gen(function* () {
      const state = yield* TaskState
      yield* state.set("profile", { version: 3, data: { whatever: true } })
      const current = yield* versionedState("profile", V2)
      const error = yield* Effect.flip(current.get)
      assert.strictEqual(error._tag, "UnknownDataVersion")
    }).pipe(Effect.provide(TestLayer))
  )
})
