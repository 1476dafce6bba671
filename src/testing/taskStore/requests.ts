/**
 * Cancels and pauses asked by a process that does not run the task: kept with the task, heard by heartbeats and
 * subscribers, applied by claims and finishes.
 */
import { assert } from "@effect/vitest"
import { Effect, Option, Ref, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { StoreError } from "../../stores/errors.ts"
import type { TaskRecord } from "../../stores/TaskRecord.ts"
import { TaskStore } from "../../stores/TaskStore.ts"
import type { SuiteTest } from "../taskStoreSuite.ts"

export const requestTests = (test: SuiteTest): void => {
  test(
    "keeps a cancel asked for a running task: its heartbeats fail with CancelRequested, and it cannot be requeued",
    Effect.gen(function* () {
      const store = yield* TaskStore
      yield* store.create({ id: "idle", name: "job", input: null })
      assert.isFalse(yield* store.requestCancel("idle"))
      assert.isFalse(yield* store.requestCancel("missing"))
      yield* store.create({ id: "t", name: "job", input: null })
      const token = Option.getOrThrow(yield* store.claim("t", { owner: "w", expiresAt: 1_000 })).fencingToken
      yield* store.heartbeat("t", token, 2_000)
      assert.isTrue(yield* store.requestCancel("t"))
      const asked = yield* Effect.flip(store.heartbeat("t", token, 3_000))
      assert.strictEqual(asked._tag, "CancelRequested")
      // the lease is extended all the same, and a stale token is still refused as such
      assert.strictEqual(Option.getOrThrow(yield* store.get("t")).leaseExpiresAt, 3_000)
      assert.strictEqual((yield* Effect.flip(store.heartbeat("t", token + 1, 3_000)))._tag, "LeaseLost")
      // the attempt ends before it heard of it: a retry (or a suspension) is recorded as the cancel instead
      const requeued = yield* store.finish("t", token, {
        _tag: "Requeued",
        attempt: 2,
        runAt: 9_000,
        error: { tag: "Boom", message: "again" }
      })
      // as a cancel leaves it: at its attempt, without the retry's error
      assert.deepStrictEqual(
        [requeued.status, requeued.runAt, requeued.attempt, requeued.error],
        ["cancelled", undefined, 1, undefined]
      )
      yield* store.create({ id: "s", name: "job", input: null })
      const other = Option.getOrThrow(yield* store.claim("s", { owner: "w", expiresAt: 4_000 })).fencingToken
      yield* store.requestCancel("s")
      const suspended = yield* store.finish("s", other, { _tag: "Suspended", reason: { _tag: "Paused" } })
      assert.deepStrictEqual([suspended.status, suspended.suspendReason], ["cancelled", undefined])
      // the same for attempts that end together (a store may write them as one statement)
      const ids = ["b1", "b2", "b3"]
      const tokens = yield* Effect.forEach(ids, (id) =>
        Effect.gen(function* () {
          yield* store.create({ id, name: "job", input: null })
          const claimed = Option.getOrThrow(yield* store.claim(id, { owner: "w", expiresAt: 4_000 }))
          yield* store.requestCancel(id)
          return claimed.fencingToken
        })
      )
      const together = yield* Effect.forEach(
        ids,
        (id, i) => store.finish(id, tokens[i] ?? 0, { _tag: "Requeued", attempt: 2, runAt: 9_000 }),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        together.map((task) => task.status),
        ["cancelled", "cancelled", "cancelled"]
      )
      // its holder died (the lease ran out) before it heard of it: the next claim cancels it instead
      yield* store.create({ id: "d", name: "job", input: null })
      yield* store.claim("d", { owner: "dead", expiresAt: 0 })
      assert.isTrue(yield* store.requestCancel("d"))
      yield* TestClock.adjust(1)
      assert.isTrue(Option.isNone(yield* store.claim("d", { owner: "w", expiresAt: 60_000 })))
      const reclaimed = Option.getOrThrow(yield* store.get("d"))
      assert.deepStrictEqual([reclaimed.status, reclaimed.leaseOwner], ["cancelled", undefined])
      // an attempt that completes anyway completes
      yield* store.create({ id: "c", name: "job", input: null })
      const last = Option.getOrThrow(yield* store.claim("c", { owner: "w", expiresAt: 5_000 })).fencingToken
      yield* store.requestCancel("c")
      assert.strictEqual((yield* store.finish("c", last, { _tag: "Completed", output: 1 })).status, "completed")
    })
  )

  test(
    "keeps a pause asked for a running task: its heartbeats fail with PauseRequested, and a retry or claim pauses it",
    Effect.gen(function* () {
      const store = yield* TaskStore
      const claimed = (id: string, expiresAt: number) =>
        Effect.map(store.claim(id, { owner: "w", expiresAt }), (claim) => Option.getOrThrow(claim).fencingToken)
      const paused = (task: TaskRecord): ReadonlyArray<unknown> => [
        task.status,
        task.suspendReason,
        task.runAt,
        task.leaseOwner
      ]
      const pausedFromOutside: ReadonlyArray<unknown> = ["suspended", { _tag: "Paused" }, undefined, undefined]
      yield* store.create({ id: "idle", name: "job", input: null })
      assert.isFalse(yield* store.requestPause("idle"))
      assert.isFalse(yield* store.requestPause("missing"))
      yield* store.create({ id: "t", name: "job", input: null })
      const token = yield* claimed("t", 1_000)
      assert.isTrue(yield* store.requestPause("t"))
      const asked = yield* Effect.flip(store.heartbeat("t", token, 3_000))
      assert.strictEqual(asked._tag, "PauseRequested")
      // the lease is extended all the same, and a stale token is still refused as such
      assert.strictEqual(Option.getOrThrow(yield* store.get("t")).leaseExpiresAt, 3_000)
      assert.strictEqual((yield* Effect.flip(store.heartbeat("t", token + 1, 3_000)))._tag, "LeaseLost")
      // the attempt ends before it heard of it: its retry is paused instead, at the retry's attempt, with its error
      const requeued = yield* store.finish("t", token, {
        _tag: "Requeued",
        attempt: 2,
        runAt: 9_000,
        error: { tag: "Boom", message: "again" }
      })
      assert.deepStrictEqual(paused(requeued), pausedFromOutside)
      assert.deepStrictEqual([requeued.attempt, requeued.error], [2, { tag: "Boom", message: "again" }])
      // paused once, the request is done: resumed, the task runs, and its heartbeats are plain again
      yield* store.wake("t")
      const resumed = yield* claimed("t", 4_000)
      yield* store.heartbeat("t", resumed, 5_000)
      // a suspension (here, a body's pause until a time) is paused from outside instead
      assert.isTrue(yield* store.requestPause("t"))
      const suspended = yield* store.finish("t", resumed, {
        _tag: "Suspended",
        reason: { _tag: "Paused", until: 9_000 },
        runAt: 9_000
      })
      assert.deepStrictEqual(paused(suspended), pausedFromOutside)
      // withdrawn before anything carried it out (a resume came first): the attempt goes on as if never asked
      yield* store.create({ id: "w", name: "job", input: null })
      const withdrawn = yield* claimed("w", 4_000)
      assert.isFalse(yield* store.withdrawPause("w"))
      yield* store.requestPause("w")
      assert.isTrue(yield* store.withdrawPause("w"))
      yield* store.heartbeat("w", withdrawn, 5_000)
      const retried = yield* store.finish("w", withdrawn, { _tag: "Requeued", attempt: 2 })
      assert.strictEqual(retried.status, "pending")
      // a cancel asked too wins
      yield* store.create({ id: "both", name: "job", input: null })
      const both = yield* claimed("both", 4_000)
      yield* store.requestPause("both")
      yield* store.requestCancel("both")
      assert.strictEqual((yield* Effect.flip(store.heartbeat("both", both, 5_000)))._tag, "CancelRequested")
      const cancelled = yield* store.finish("both", both, { _tag: "Requeued", attempt: 2 })
      assert.strictEqual(cancelled.status, "cancelled")
      // the same for attempts that end together (a store may write them as one statement)
      const ids = ["b1", "b2", "b3"]
      const tokens = yield* Effect.forEach(ids, (id) =>
        Effect.gen(function* () {
          yield* store.create({ id, name: "job", input: null })
          const held = yield* claimed(id, 4_000)
          yield* store.requestPause(id)
          return held
        })
      )
      const together = yield* Effect.forEach(
        ids,
        (id, i) => store.finish(id, tokens[i] ?? 0, { _tag: "Requeued", attempt: 2, runAt: 9_000 }),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(together.map(paused), [pausedFromOutside, pausedFromOutside, pausedFromOutside])
      // its holder died (the lease ran out) before it heard of it: the next claim pauses it instead
      yield* store.create({ id: "d", name: "job", input: null })
      yield* store.claim("d", { owner: "dead", expiresAt: 0 })
      assert.isTrue(yield* store.requestPause("d"))
      yield* TestClock.adjust(1)
      assert.isTrue(Option.isNone(yield* store.claim("d", { owner: "w", expiresAt: 60_000 })))
      assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get("d"))), pausedFromOutside)
      // the same for claims that go together (a store may write them as one statement)
      const dead = ["d1", "d2", "d3"]
      for (const id of dead) {
        yield* store.create({ id, name: "job", input: null })
        yield* store.claim(id, { owner: "dead", expiresAt: 0 })
        yield* store.requestPause(id)
      }
      yield* TestClock.adjust(1)
      const claims = yield* Effect.forEach(dead, (id) => store.claim(id, { owner: "w", expiresAt: 60_000 }), {
        concurrency: "unbounded"
      })
      assert.isTrue(claims.every(Option.isNone))
      for (const id of dead) assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get(id))), pausedFromOutside)
      // its holder restarted and handed it back (`recoverOwned`): the request stays, and the claim pauses it
      yield* store.create({ id: "r", name: "job", input: null })
      yield* store.claim("r", { owner: "restarted", expiresAt: 60_000 })
      yield* store.requestPause("r")
      yield* store.recoverOwned("restarted")
      assert.isTrue(Option.isNone(yield* store.claim("r", { owner: "restarted", expiresAt: 60_000 })))
      assert.deepStrictEqual(paused(Option.getOrThrow(yield* store.get("r"))), pausedFromOutside)
      // ... unless a resume withdrew it first
      yield* store.create({ id: "rw", name: "job", input: null })
      yield* store.claim("rw", { owner: "restarted", expiresAt: 60_000 })
      yield* store.requestPause("rw")
      yield* store.recoverOwned("restarted")
      assert.isTrue(yield* store.withdrawPause("rw"))
      const taken = yield* store.claim("rw", { owner: "restarted", expiresAt: 60_000 })
      assert.strictEqual(Option.getOrThrow(taken).status, "running")
      // an attempt that completes anyway completes
      yield* store.create({ id: "c", name: "job", input: null })
      const last = yield* claimed("c", 60_000)
      yield* store.requestPause("c")
      assert.strictEqual((yield* store.finish("c", last, { _tag: "Completed", output: 1 })).status, "completed")
    })
  )

  test(
    "tells its subscribers of every cancel or pause asked, and of nothing else",
    Effect.gen(function* () {
      const store = yield* TaskStore
      for (const id of ["p", "c", "idle"]) yield* store.create({ id, name: "job", input: null })
      yield* store.claim("p", { owner: "w", expiresAt: 60_000 })
      yield* store.claim("c", { owner: "w", expiresAt: 60_000 })
      const heard = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.forkChild(Stream.runForEach(store.requests, (id) => Ref.update(heard, (ids) => [...ids, id])))
      // On a database the subscription starts in the background: ask until it is heard (each ask is told).
      const hears = (id: string, ask: Effect.Effect<unknown, StoreError>) =>
        Effect.gen(function* () {
          for (let tries = 0; tries < 500; tries++) {
            yield* ask
            yield* TestClock.withLive(Effect.sleep(10))
            if ((yield* Ref.get(heard)).includes(id)) return
          }
          assert.fail(`no request of ${id} was heard`)
        })
      yield* hears("p", store.requestPause("p"))
      // asked of a task that does not run: nothing is kept, nothing told
      assert.isFalse(yield* store.requestCancel("idle"))
      yield* hears("c", store.requestCancel("c"))
      const ids = yield* Ref.get(heard)
      assert.isTrue(ids.every((id) => id === "p" || id === "c"))
      assert.strictEqual(ids.at(-1), "c")
    }).pipe(Effect.scoped)
  )
}
