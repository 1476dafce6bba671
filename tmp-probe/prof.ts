import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Schema } from "effect"
import { Children, Runtime, task } from "../src/index.ts"
import * as PgliteDb from "../src/stores/postgres/PgliteDb.ts"
import * as PgStores from "../src/stores/postgres/PgStores.ts"
import { Db, execute } from "../src/stores/postgres/Db.ts"
import { sql } from "drizzle-orm"
const trivial = task({ name: "trivial", input: Schema.Number, output: Schema.Number }, (n) => Effect.succeed(n + 1))
const fanOut = task({ name: "fan-out", input: Schema.Number, output: Schema.Number }, (n) =>
  Effect.map(Children.all(Array.from({ length: n }, (_, i) => Children.spec(trivial, i, { key: `c${i}` }))), (o) => o.length))
const mode = process.argv[2]
const n = 10000
const program = Effect.gen(function* () {
  const db = yield* Db
  for (const ix of (process.argv[3] ?? "").split(",").filter(Boolean)) yield* execute(db, "drop", sql.raw(`drop index waypoint.${ix}`))
  if (process.argv[4] === "notrigger") yield* execute(db, "drop", sql.raw(`drop trigger tasks_child_ended on waypoint.tasks`))
  const runtime = yield* Runtime.make({ tasks: [trivial, fanOut] })
  for (let r = 0; r < 4; r++) {
    const s = performance.now()
    if (mode === "top") {
      const hs = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => runtime.submit(trivial, i), { concurrency: 64 })
      yield* Effect.forEach(hs, (h) => h.await, { concurrency: "unbounded", discard: true })
    } else yield* runtime.run(fanOut, n)
    console.log(mode, process.argv[3] ?? '', process.argv[4] ?? '', r, Math.round(performance.now() - s))
  }
}).pipe(Effect.scoped)
const dir = await mkdtemp(join(tmpdir(), "prof-"))
await Effect.runPromise(program.pipe(Effect.provide(Layer.provideMerge(PgStores.layer, PgliteDb.layer({ dataDir: join(dir, "data") })))))
