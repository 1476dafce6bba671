/**
 * A fan-out with a concurrency bound, run to its end against the PostgreSQL task store: `bound` children start, the
 * others wait in their queue, and each end starts the next. Workers of each given store claim children with
 * `claimChild` and complete them, the parent waits for them all meanwhile, and a sampler counts, as often as it can,
 * the children that are neither queued nor ended (each end and the release it makes commit together, so a sample
 * never sees more than `bound`).
 */
import { sql } from "drizzle-orm"
import { Effect, Option, Schedule } from "effect"
import { type Database, execute } from "../../../src/stores/postgres/Db.ts"
import type { TaskStore } from "../../../src/stores/TaskStore.ts"

/** What the sampler saw, and the parent and children as they ended. */
export interface FanOutSeen {
  /** The most children neither queued nor ended in one sample. */
  readonly maxActive: number
  readonly samples: number
  readonly parentStatus: string
  readonly completed: number
}

const lease = { owner: "fan-out", expiresAt: Number.MAX_SAFE_INTEGER }

/** Runs a fan-out of `count` children under the parent `parentId`; workers and sampler end with it. */
export const queuedFanOut = (
  stores: ReadonlyArray<TaskStore["Service"]>,
  db: Database,
  options: { readonly parentId: string; readonly count: number; readonly bound: number }
) =>
  Effect.gen(function* () {
    const { parentId, count, bound } = options
    const first = stores[0]
    if (first === undefined) return yield* Effect.die(new Error("no store"))
    const parent = yield* first.create({ id: parentId, name: "parent", input: null, lease })
    // zero-padded, so that the queue's order (created_at, id) is the order of creation
    const ids = Array.from({ length: count }, (_, i) => `${parentId}/${String(i).padStart(5, "0")}`)
    yield* Effect.forEach(
      ids,
      (id, i) =>
        first.create({ id, name: "child", input: i, parentId, childKey: id, queued: i >= bound, bounded: true }),
      { concurrency: 32, discard: true }
    )
    const worker = (store: TaskStore["Service"]) =>
      Effect.forever(
        Effect.gen(function* () {
          const claimed = yield* store.claimChild(parentId, ["child"], lease)
          // another worker took the child a release made runnable: wait for the next release
          if (Option.isNone(claimed)) return yield* store.awaitWork(1_000)
          yield* store.finish(claimed.value.id, claimed.value.fencingToken, { _tag: "Completed", output: null })
        })
      )
    let isDone = false
    let maxActive = 0
    let samples = 0
    const sample = execute(
      db,
      "sample",
      sql`select count(*)::int as n from waypoint.tasks where parent_id = ${parentId}
        and status not in ('completed', 'failed', 'cancelled')
        and not (status = 'suspended' and suspend_reason->>'_tag' = 'QueuedBehindSiblings')`
    )
    // a timer between samples: PGlite answers within microtasks, so a loop of bare samples would starve the workers
    const sampler = Effect.whileLoop({
      while: () => !isDone,
      body: () => Effect.andThen(Effect.sleep("1 millis"), sample),
      step: (rows) => {
        maxActive = Math.max(maxActive, Number(rows[0]?.n))
        samples++
      }
    })
    yield* Effect.forkScoped(sampler)
    for (const store of stores) {
      for (let i = 0; i < bound; i++) yield* Effect.forkScoped(worker(store))
    }
    // the parent's wait races the first ends
    yield* first.finish(parentId, parent.fencingToken, { _tag: "AwaitingChildren", children: ids, mode: "settled" })
    const ended = yield* Effect.repeat(Effect.map(first.get(parentId), Option.getOrThrow), {
      until: (task) => task.status !== "suspended",
      schedule: Schedule.spaced("20 millis")
    }).pipe(Effect.timeout("120 seconds"))
    isDone = true
    const completed = yield* execute(
      db,
      "count",
      sql`select count(*)::int as n from waypoint.tasks where parent_id = ${parentId} and status = 'completed'`
    )
    return {
      maxActive,
      samples,
      parentStatus: ended.status,
      completed: Number(completed[0]?.n)
    } satisfies FanOutSeen
  })
