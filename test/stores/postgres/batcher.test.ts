/** The group commit under the PostgreSQL task store, over a fake statement: who goes alone, who waits, who fails. */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Scope } from "effect"
import { StoreError } from "../../../src/stores/errors.ts"
import { makeBatcher, type Outcomes } from "../../../src/stores/postgres/internal/batcher.ts"

/**
 * A batcher over a fake statement that records each batch and waits for `release` before it answers: the first call
 * stays in flight until the test lets it go, so the calls made meanwhile queue.
 */
const recording = (options: {
  readonly maxSize?: number
  readonly refuse?: (item: number) => StoreError | undefined
}) =>
  Effect.gen(function* () {
    const batches: Array<ReadonlyArray<number>> = []
    const release = yield* Deferred.make<void>()
    const send = yield* makeBatcher<number, string, never>({
      maxSize: options.maxSize ?? 256,
      execute: (items) =>
        Effect.gen(function* () {
          batches.push(items)
          if (batches.length === 1) yield* Deferred.await(release)
          const refused = items.map((item) => options.refuse?.(item)).find((error) => error !== undefined)
          if (refused !== undefined) return yield* refused
          return items.map((item) =>
            item < 0 ? Exit.fail(new StoreError({ operation: "t", cause: item })) : Exit.succeed(`#${item}`)
          ) satisfies Outcomes<string, never>
        })
    })
    return { batches, release, send }
  })

const forkAll = (send: (item: number) => Effect.Effect<string, StoreError>, items: ReadonlyArray<number>) =>
  Effect.forkChild(
    Effect.all(
      items.map((item) => Effect.exit(send(item))),
      { concurrency: "unbounded" }
    ),
    {
      startImmediately: true
    }
  )

const lostConnection = new StoreError({ operation: "t", cause: { code: "ECONNRESET" } })
const refusedValue = new StoreError({ operation: "t", cause: { code: "22P02" } })

describe("makeBatcher", () => {
  it.effect("runs a lone call at once, and the calls made while it is in flight as one batch after it", () =>
    Effect.gen(function* () {
      const { batches, release, send } = yield* recording({})
      const first = yield* Effect.forkChild(send(0), { startImmediately: true })
      assert.deepStrictEqual(batches, [[0]], "sent before anything else ran")
      const others = yield* forkAll(send, [1, 2, -3, 4])
      assert.deepStrictEqual(batches, [[0]], "queued behind the one in flight")
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* Fiber.join(first), "#0")
      const outcomes = yield* Fiber.join(others)
      assert.deepStrictEqual(batches, [[0], [1, 2, -3, 4]])
      assert.deepStrictEqual(outcomes.slice(0, 2), [Exit.succeed("#1"), Exit.succeed("#2")])
      assert.deepStrictEqual(
        Exit.findErrorOption(outcomes[2] as Exit.Exit<string, StoreError>),
        Option.some(new StoreError({ operation: "t", cause: -3 }))
      )
      assert.deepStrictEqual(outcomes[3], Exit.succeed("#4"))
      assert.strictEqual(yield* send(5), "#5", "idle again: a lone call goes alone")
      assert.deepStrictEqual(batches.at(-1), [5])
    })
  )

  it.effect("drops a queued call whose caller gave up before its batch was sent", () =>
    Effect.gen(function* () {
      const { batches, release, send } = yield* recording({})
      const first = yield* Effect.forkChild(send(0), { startImmediately: true })
      const given = yield* Effect.forkChild(send(1), { startImmediately: true })
      const kept = yield* Effect.forkChild(send(2), { startImmediately: true })
      yield* Fiber.interrupt(given)
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* Fiber.join(first), "#0")
      assert.strictEqual(yield* Fiber.join(kept), "#2")
      assert.deepStrictEqual(batches, [[0], [2]], "the item given up was never sent")
    })
  )
  it.effect("caps a batch at its maximum size, in the order the calls came", () =>
    Effect.gen(function* () {
      const { batches, release, send } = yield* recording({ maxSize: 3 })
      const all = yield* forkAll(send, [0, 1, 2, 3, 4, 5, 6, 7])
      yield* Deferred.succeed(release, undefined)
      const outcomes = yield* Fiber.join(all)
      assert.deepStrictEqual(batches, [[0], [1, 2, 3], [4, 5, 6], [7]])
      assert.deepStrictEqual(
        outcomes,
        [0, 1, 2, 3, 4, 5, 6, 7].map((i) => Exit.succeed(`#${i}`))
      )
    })
  )

  it.effect("runs a batch the database refused again item by item, failing only the refused items", () =>
    Effect.gen(function* () {
      const { batches, release, send } = yield* recording({ refuse: (item) => (item === 2 ? refusedValue : undefined) })
      const all = yield* forkAll(send, [0, 1, 2, 3])
      yield* Deferred.succeed(release, undefined)
      const outcomes = yield* Fiber.join(all)
      assert.deepStrictEqual(batches, [[0], [1, 2, 3], [1], [2], [3]])
      assert.deepStrictEqual(outcomes.map(Exit.isSuccess), [true, true, false, true])
      assert.deepStrictEqual(
        Exit.findErrorOption(outcomes[2] as Exit.Exit<string, StoreError>),
        Option.some(refusedValue)
      )
    })
  )

  it.effect("fails every call of a batch that met a lost connection, without running them again", () =>
    Effect.gen(function* () {
      const { batches, release, send } = yield* recording({
        refuse: (item) => (item === 2 ? lostConnection : undefined)
      })
      const all = yield* forkAll(send, [0, 1, 2, 3])
      yield* Deferred.succeed(release, undefined)
      const outcomes = yield* Fiber.join(all)
      assert.deepStrictEqual(batches, [[0], [1, 2, 3]])
      assert.deepStrictEqual(
        outcomes.map((outcome) => Exit.findErrorOption(outcome)),
        [Option.none(), Option.some(lostConnection), Option.some(lostConnection), Option.some(lostConnection)]
      )
    })
  )

  it.effect("sends the queued calls once an interrupted lone call has ended", () =>
    Effect.gen(function* () {
      const { batches, send } = yield* recording({})
      const first = yield* Effect.forkChild(send(0), { startImmediately: true })
      const others = yield* forkAll(send, [1, 2])
      yield* Fiber.interrupt(first)
      assert.deepStrictEqual(yield* Fiber.join(others), [Exit.succeed("#1"), Exit.succeed("#2")])
      assert.deepStrictEqual(batches, [[0], [1, 2]])
    })
  )

  it.effect("interrupts the calls still waiting when its scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const never = yield* Deferred.make<void>()
      const send = yield* makeBatcher<number, number, never>({
        maxSize: 10,
        execute: (items) =>
          Effect.as(
            Deferred.await(never),
            items.map((item) => Exit.succeed(item))
          )
      }).pipe(Scope.provide(scope))
      const lone = yield* Effect.forkChild(send(0), { startImmediately: true })
      const queued = yield* Effect.forkChild(Effect.exit(send(1)), { startImmediately: true })
      // the lone call's end hands the queued one to a fiber of the scope, whose close interrupts it
      yield* Fiber.interrupt(lone)
      yield* Scope.close(scope, Exit.void)
      const outcome = yield* Fiber.join(queued)
      assert.isTrue(Exit.hasInterrupts(outcome))
    })
  )
})
