/**
 * Group commit for one kind of write: a call that finds no statement of its kind in flight goes at once, alone; the
 * calls that arrive while one is in flight wait, and go together, as one statement, once it has returned. No timer:
 * a lone call never waits, and under load each statement carries what queued during the previous one.
 */
import { Cause, Deferred, Effect, Exit, Option, type Scope } from "effect"
import type { StoreError } from "../../errors.ts"
import { isTransient } from "./attempt.ts"

/** What one statement of a batch gives each of its items, in their order. */
export type Outcomes<B, E> = ReadonlyArray<Exit.Exit<B, E | StoreError>>

export interface BatcherOptions<A, B, E> {
  /** The most items one statement carries; more wait for the next. */
  readonly maxSize: number
  /**
   * Runs one statement for `items` (in the order they came) and gives each its own outcome, in the same order.
   * Fails, with `StoreError`, only when the statement itself failed: then every item of it fails with that error.
   */
  readonly execute: (items: ReadonlyArray<A>) => Effect.Effect<Outcomes<B, E>, StoreError>
}

interface Waiting<A, B, E> {
  readonly item: A
  readonly deferred: Deferred.Deferred<B, E | StoreError>
}

/**
 * Returns the function that sends one item and waits for its outcome. A call that finds nothing in flight runs its
 * statement (of one item) in its own fiber; the batches that queue meanwhile run, one after another, in a fiber of
 * the current scope; when that scope closes, whoever still waits is interrupted.
 *
 * A batch the database refused for a reason other than a lost connection (a value it cannot store, a constraint) is
 * run again item by item, so that only the items it refuses fail; a batch that met a lost connection was already
 * retried by `attempt`, and fails as a whole.
 */
export const makeBatcher = <A, B, E>(
  options: BatcherOptions<A, B, E>
): Effect.Effect<(item: A) => Effect.Effect<B, E | StoreError>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    let waiting: Array<Waiting<A, B, E>> = []
    let inFlight: ReadonlyArray<Waiting<A, B, E>> = []
    let isFlushing = false

    const settle = (batch: ReadonlyArray<Waiting<A, B, E>>, outcomes: Outcomes<B, E>) => {
      for (let i = 0; i < batch.length; i++) {
        const outcome = outcomes[i]
        Deferred.doneUnsafe(
          (batch[i] as Waiting<A, B, E>).deferred,
          outcome ??
            Effect.die(new Error(`a batch statement gave ${outcomes.length} outcomes for ${batch.length} items`))
        )
      }
    }

    const alone = (entry: Waiting<A, B, E>) =>
      Effect.map(Effect.exit(options.execute([entry.item])), (exit) =>
        Exit.isSuccess(exit)
          ? (exit.value[0] ?? Exit.die(new Error("a batch statement gave no outcome")))
          : Exit.failCause(exit.cause)
      )

    const runBatch = (batch: ReadonlyArray<Waiting<A, B, E>>): Effect.Effect<Outcomes<B, E>> =>
      Effect.flatMap(Effect.exit(options.execute(batch.map((entry) => entry.item))), (exit) => {
        if (Exit.isSuccess(exit)) return Effect.succeed(exit.value)
        const error = Exit.findErrorOption(exit)
        if (batch.length > 1 && Option.isSome(error) && !isTransient(error.value)) return Effect.forEach(batch, alone)
        const failed = Exit.failCause(exit.cause)
        return Effect.succeed(batch.map(() => failed))
      })

    /** Fails whoever still waits (the scope closed, or a defect): nobody may wait for ever. */
    const abandon = (cause: Cause.Cause<StoreError>) => {
      const left = [...inFlight, ...waiting]
      inFlight = []
      waiting = []
      isFlushing = false
      const failed = Exit.failCause(cause)
      for (const entry of left) Deferred.doneUnsafe(entry.deferred, failed)
    }

    // Takes batches until none waits. Between the last check and `isFlushing = false` nothing yields, so a call
    // queued meanwhile cannot be left without a flush.
    const flush = Effect.gen(function* () {
      while (waiting.length > 0) {
        const batch = waiting.length <= options.maxSize ? waiting : waiting.slice(0, options.maxSize)
        waiting = waiting.length <= options.maxSize ? [] : waiting.slice(options.maxSize)
        inFlight = batch
        const outcomes = yield* runBatch(batch)
        inFlight = []
        settle(batch, outcomes)
      }
      isFlushing = false
    }).pipe(Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.sync(() => abandon(exit.cause)))))

    /** Once a lone call has returned: the calls that queued meanwhile go as the next batch, or the batcher idles. */
    const handOff = Effect.suspend(() => {
      if (waiting.length === 0) {
        isFlushing = false
        return Effect.void
      }
      // a fiber forked into a closed scope would never run `flush`, so never fail them
      if (scope.state._tag === "Closed") return Effect.sync(() => abandon(Cause.interrupt()))
      return Effect.asVoid(Effect.forkIn(flush, scope, { startImmediately: true }))
    })

    // Uninterruptible but for the waits: a call is queued, or marks a statement in flight and installs what ends
    // that mark, as one step, so an interruption cannot leave the batcher marked busy with nobody to clear it.
    return (item: A) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (isFlushing) {
            const entry: Waiting<A, B, E> = { item, deferred: Deferred.makeUnsafe<B, E | StoreError>() }
            waiting.push(entry)
            // A caller that gives up before its batch is sent takes its item back: nobody would see its outcome (a
            // claim would hold a task nobody runs). Once sent, the write goes on, as a lone call's does.
            return Effect.onInterrupt(restore(Deferred.await(entry.deferred)), () =>
              Effect.sync(() => {
                const at = waiting.indexOf(entry)
                if (at >= 0) waiting.splice(at, 1)
              })
            )
          }
          // Nothing in flight: this call runs its statement in its own fiber, at once, and its interruption concerns
          // only it; whatever queued meanwhile goes as the next batch when it ends, however it ends.
          isFlushing = true
          return restore(options.execute([item])).pipe(
            Effect.onExit(() => handOff),
            Effect.flatMap(
              (outcomes) => outcomes[0] ?? Effect.die(new Error("a batch statement gave no outcome for its one item"))
            )
          )
        })
      )
  })
