/**
 * A create whose INSERT committed and whose reply was lost with its connection runs again (`attempt.ts`): it must
 * answer with the task it created, not `TaskIdTaken` on its own row. A driver over PGlite drops the reply of the
 * first INSERT into the tasks, after the database applied it, with postgres.js's CONNECTION_CLOSED.
 */

import { assert, describe, it } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import { Effect, Layer, Option } from "effect"
import { Driver, type Run } from "../../../src/stores/postgres/Driver.ts"
import { runPglite } from "../../../src/stores/postgres/internal/pgliteRun.ts"
import * as PgliteDb from "../../../src/stores/postgres/PgliteDb.ts"
import * as PgTaskStore from "../../../src/stores/postgres/PgTaskStore.ts"

/** Runs `run`, but the first INSERT into the tasks (of one row, or of a batch) loses its reply once it is applied. */
const losingFirstInsertReply = (run: Run, batch: boolean) => {
  let lost = 0
  const lossy: Run = async (text, params) => {
    const rows = await run(text, params)
    const isInsert = /insert into "waypoint"\."tasks"/i.test(text)
    if (lost === 0 && isInsert && text.includes("jsonb_to_recordset") === batch) {
      lost++
      throw Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" })
    }
    return rows
  }
  return { lossy, lost: () => lost }
}

describe("PgTaskStore create after a lost reply", () => {
  it.live(
    "answers with the task its first try created, alone and in a batch, not TaskIdTaken",
    () =>
      Effect.gen(function* () {
        const client = yield* Effect.acquireRelease(
          Effect.promise(() => PGlite.create()),
          (c) => Effect.promise(() => c.close())
        )
        const context = yield* Layer.build(PgliteDb.layerClient(client))
        for (const [id, together] of [
          ["alone", 1],
          ["batched", 4]
        ] as const) {
          const { lossy, lost } = losingFirstInsertReply(runPglite(client), together > 1)
          const store = yield* PgTaskStore.make.pipe(
            Effect.provideService(Driver, Driver.make(lossy)),
            Effect.provideContext(context)
          )
          const created = yield* Effect.all(
            Array.from({ length: together }, (_, i) => store.create({ id: `${id}-${i}`, name: "job", input: i })),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(lost(), 1, "a reply was lost")
          assert.deepStrictEqual(
            created.map((task) => [task.id, task.status, task.input]),
            Array.from({ length: together }, (_, i) => [`${id}-${i}`, "pending", i])
          )
          assert.deepStrictEqual(
            Option.map(yield* store.get(`${id}-0`), (task) => task.id),
            Option.some(`${id}-0`)
          )
          // another create of a taken id is still refused
          const again = yield* Effect.flip(store.create({ id: `${id}-0`, name: "other", input: 9 }))
          assert.strictEqual(again._tag, "TaskIdTaken")
        }
      }).pipe(Effect.scoped),
    60_000
  )
})
