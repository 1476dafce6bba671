/**
 * Wake-ups pushed by the database: which statements notify, with what due time, and which do not. PGlite always; a
 * server when DATABASE_URL is set.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import type { StoreError } from "../../../src/stores/errors.ts"
import { Db } from "../../../src/stores/postgres/Db.ts"
import { TaskStore } from "../../../src/stores/TaskStore.ts"
import { claimed, getTask, type RawListen, rawListenPglite, rawListenServer, sentBy } from "./notifying.ts"
import { layerFrom, makeTemplate } from "./pgliteTemplate.ts"
import * as TestDatabase from "./TestDatabase.ts"

const notificationSuite = (name: string, layer: Layer.Layer<TaskStore | Db, StoreError>, rawListen: RawListen) =>
  describe(`Notifications: ${name}`, () => {
    it.live("notifies from the statements that may make a task runnable, and from no other", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const db = yield* Db
        const sent = sentBy(yield* rawListen, db)

        assert.deepStrictEqual(yield* sent(store.create({ id: "a", name: "job", input: 1 })), [""])
        assert.deepStrictEqual(yield* sent(store.create({ id: "later", name: "job", input: 1, runAt: 5000 })), ["5000"])
        assert.deepStrictEqual(yield* sent(store.create({ id: "k1", name: "job", input: 1, idempotencyKey: "key" })), [
          ""
        ])
        assert.deepStrictEqual(
          yield* sent(store.create({ id: "k2", name: "job", input: 1, idempotencyKey: "key" })),
          [],
          "a create that finds its key used creates nothing"
        )

        const first = yield* claimed(store, "a")
        assert.deepStrictEqual(yield* sent(claimed(store, "k1")), [], "claim")
        assert.deepStrictEqual(yield* sent(store.heartbeat("a", first.fencingToken, 10)), [], "heartbeat")
        assert.deepStrictEqual(
          yield* sent(store.finish("a", first.fencingToken, { _tag: "Requeued", attempt: 2 })),
          [""],
          "requeued"
        )
        const second = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(store.finish("a", second.fencingToken, { _tag: "Requeued", attempt: 3, runAt: 6000 })),
          ["6000"],
          "requeued for later"
        )
        const third = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(
            store.finish("a", third.fencingToken, {
              _tag: "Suspended",
              reason: { _tag: "Paused", until: 7000 },
              runAt: 7000
            })
          ),
          ["7000"],
          "suspended until a time"
        )
        const fourth = yield* claimed(store, "a")
        assert.deepStrictEqual(
          yield* sent(
            store.finish("a", fourth.fencingToken, {
              _tag: "Suspended",
              reason: { _tag: "WaitingForSignal", signal: "go" }
            })
          ),
          [],
          "suspended until a wake"
        )
        const woken = yield* sent(store.wake("a"))
        assert.strictEqual(woken.length, 1, "woken")
        assert.strictEqual(String((yield* getTask(store, "a")).runAt), woken[0], "with the time it is due")
        assert.deepStrictEqual(yield* sent(store.wake("k1")), [], "waking a task that is not suspended does nothing")
        assert.deepStrictEqual(
          yield* sent(store.finish("k1", (yield* getTask(store, "k1")).fencingToken, { _tag: "Completed", output: 1 })),
          [],
          "completed"
        )

        yield* sent(
          Effect.all([
            store.create({ id: "b", name: "job", input: 1 }),
            store.create({ id: "c", name: "job", input: 1 })
          ])
        )
        yield* claimed(store, "b", "crashed")
        yield* claimed(store, "c", "crashed")
        assert.deepStrictEqual(
          yield* sent(store.recoverOwned("crashed")),
          [""],
          "handed back: one notification for the statement's two rows"
        )
        assert.deepStrictEqual(yield* sent(store.recoverOwned("crashed")), [], "nothing left to hand back")
        assert.deepStrictEqual(yield* sent(store.suspendIdle("b", { _tag: "Paused" })), [], "suspendIdle")
        assert.deepStrictEqual(yield* sent(store.cancelIdle("c")), [], "cancelIdle")
      }).pipe(Effect.scoped, Effect.provide(layer))
    )

    it.live("notifies from batched writes once per due time, and not from claimed creates nor endings", () =>
      Effect.gen(function* () {
        const store = yield* TaskStore
        const sent = sentBy(yield* rawListen, yield* Db)
        const lease = { owner: "w", expiresAt: Number.MAX_SAFE_INTEGER }
        const all = <A, E>(effects: ReadonlyArray<Effect.Effect<A, E>>) =>
          Effect.all(effects, { concurrency: "unbounded" })
        // the first of each group goes alone, the others as one batch: payloads are compared as sets
        const heard = (op: Effect.Effect<unknown, unknown>) =>
          Effect.map(sent(op), (payloads) => [...new Set(payloads)])
        const ids = (prefix: string) => Array.from({ length: 12 }, (_, i) => `${prefix}${i}`)
        assert.deepStrictEqual(
          yield* heard(all(ids("claimed").map((id) => store.create({ id, name: "job", input: 1, lease })))),
          [],
          "created claimed"
        )
        assert.sameMembers(
          yield* heard(
            all(
              ids("p").map((id, i) =>
                store.create({ id, name: "job", input: 1, runAt: i % 2 === 0 ? 8000 : undefined })
              )
            )
          ),
          ["", "8000"],
          "created pending"
        )
        const running = yield* all(ids("r").map((id) => store.create({ id, name: "job", input: 1, lease })))
        assert.deepStrictEqual(
          yield* heard(all(running.map((task) => store.heartbeat(task.id, task.fencingToken, 10)))),
          [],
          "heartbeats"
        )
        assert.sameMembers(
          yield* heard(
            all(
              running.map((task, i) =>
                store.finish(
                  task.id,
                  task.fencingToken,
                  i % 4 === 0
                    ? { _tag: "Completed", output: 1 }
                    : i % 4 === 1
                      ? { _tag: "Suspended", reason: { _tag: "WaitingForSignal", signal: "go" } }
                      : i % 4 === 2
                        ? { _tag: "Suspended", reason: { _tag: "Paused", until: 9000 }, runAt: 9000 }
                        : { _tag: "Requeued", attempt: 2 }
                )
              )
            )
          ),
          ["9000", ""],
          "requeued and suspended until a time"
        )
        const done = yield* all(ids("d").map((id) => store.create({ id, name: "job", input: 1, lease })))
        assert.deepStrictEqual(
          yield* heard(
            all(
              done.map((task) =>
                store.finish(task.id, task.fencingToken, { _tag: "Failed", error: { tag: "E", message: "" } })
              )
            )
          ),
          [],
          "failed"
        )
      }).pipe(Effect.scoped, Effect.provide(layer))
    )
  })

const template = await Effect.runPromise(makeTemplate)
notificationSuite("pglite", layerFrom(template), rawListenPglite)

describe.skipIf(TestDatabase.noServer)("Notifications on a server: needs DATABASE_URL", () => {
  const database = TestDatabase.shared()
  notificationSuite("postgres", database.layer, rawListenServer(database.url))
})
