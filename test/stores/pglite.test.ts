import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { PgliteStore } from "../../src/postgres.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import { taskStoreSuite } from "./conformance/taskStoreSuite.ts"
import { layerFrom, makeTemplate, tempDir } from "./postgres/pgliteTemplate.ts"
import { pgTaskStoreSuite } from "./postgres/pgTaskStoreSuite.ts"

const template = await Effect.runPromise(makeTemplate)

taskStoreSuite("pglite", layerFrom(template))
pgTaskStoreSuite("pglite", layerFrom(template))

describe("PgliteStore", () => {
  it.effect(
    "keeps tasks in its folder, created with its parents, across a close and a reopen",
    () =>
      Effect.gen(function* () {
        const dataDir = join(yield* tempDir, "nested", "data")
        const created = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          return yield* store.create({ id: "kept", name: "job", input: { n: 1 }, idempotencyKey: "once" })
        }).pipe(Effect.provide(PgliteStore.layer({ dataDir })))
        const read = yield* Effect.gen(function* () {
          const store = yield* TaskStore
          return yield* store.get("kept")
        }).pipe(Effect.provide(PgliteStore.layer({ dataDir })))
        assert.deepStrictEqual(read, Option.some(created))
      }),
    30_000 // a fresh folder runs initdb: seconds, more on a loaded machine
  )
})
