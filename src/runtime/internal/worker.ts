/**
 * A worker: claims runnable tasks of the runtime's task definitions from the store (submitted by any process, due
 * timers, expired leases), up to `concurrency` at once, and drives each until it ends or is not runnable any more.
 */
import { Deferred, Duration, Effect, Exit } from "effect"
import type { Core } from "./core.ts"
import type { Drivers } from "./drive.ts"
import type { Registry } from "./registry.ts"

export interface WorkerOptions {
  readonly concurrency?: number | undefined
  readonly pollInterval?: Duration.Input | undefined
}

/** Runs the worker's loop for ever; fork it into the runtime's Scope. */
export const runWorker = (
  core: Core,
  registry: Registry,
  drivers: Drivers,
  options: WorkerOptions
): Effect.Effect<never> => {
  const concurrency = options.concurrency ?? 10
  const pollMillis = Duration.toMillis(options.pollInterval ?? "500 millis")
  // Drivers started here that have not let go of their task yet: what counts against the concurrency.
  let alive = 0
  // Completed and replaced whenever a driver ends after executing, so a worker that was full looks for work again at
  // once; a driver that only found its task taken by another process does not count, so contention cannot spin it.
  let completed = 0
  let freed = Deferred.makeUnsafe<void>()
  const onEnd = (executed: boolean) => {
    alive--
    if (!executed) return
    completed++
    Deferred.doneUnsafe(freed, Exit.void)
    freed = Deferred.makeUnsafe<void>()
  }

  /** Takes on runnable tasks up to the free room; says whether it filled the room (more may be waiting). */
  const poll = Effect.gen(function* () {
    const seen = completed
    const free = concurrency - Math.max(core.live.executing(), alive)
    if (free <= 0) return { filled: true, seen }
    const runnable = yield* core.store.listRunnable({ names: registry.names(), limit: free })
    for (const record of runnable) {
      const task = registry.get(record.name)
      if (task === undefined) continue
      alive++
      if (!(yield* drivers.startDetached(task, record.id, { initial: record, onEnd }))) alive--
    }
    return { filled: runnable.length >= free, seen }
  }).pipe(
    Effect.catchTag("StoreError", (error) =>
      Effect.as(Effect.logWarning("worker: could not look for runnable tasks", error), { filled: false, seen: 0 })
    )
  )

  // With room to spare: wait until the store says a task may be runnable (or the poll interval passes). With the room
  // filled, more tasks may be waiting: look again as soon as an attempt here has ended (at once if one already has,
  // as a short task does within the poll).
  const waitForWork = ({ filled, seen }: { readonly filled: boolean; readonly seen: number }) =>
    !filled
      ? core.store.awaitWork(pollMillis).pipe(Effect.catchTag("StoreError", () => Effect.sleep(pollMillis)))
      : completed > seen
        ? Effect.void
        : Effect.raceFirst(
            Effect.suspend(() => Deferred.await(freed)),
            Effect.sleep(pollMillis)
          )

  return Effect.forever(Effect.flatMap(poll, waitForWork))
}
