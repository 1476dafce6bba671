/**
 * Going on with a parent's children from this runtime: claiming the children of a parent that are runnable (those its
 * siblings' ends released from their queue, or that nobody drives) and driving them here. Used after each child's
 * end here, and when a driver here first sees a wait for children that no attempt here began: after a restart, the
 * released children of a tree belong to nobody, and without a worker nothing else would run them.
 */
import { Clock, Effect, Option } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import { isTerminal, type TaskRecord } from "../../stores/TaskRecord.ts"
import type { Core } from "./core.ts"
import type { StartFrom } from "./drive.ts"
import type { AnyTask, Registry } from "./registry.ts"

/** Starts a driver here that lets go of the task once it is not runnable (a worker's driver). */
export type StartDetached = (
  task: AnyTask,
  id: string,
  from: StartFrom & { readonly onEnd?: ((executed: boolean) => void) | undefined }
) => Effect.Effect<boolean>

export interface Tree {
  /** Claims the oldest runnable child of `parentId`, if any, and drives it here; says whether it claimed one. */
  readonly claimNext: (parentId: string) => Effect.Effect<boolean, StoreError>
  /** Claims and drives here every runnable child of `parentId`. */
  readonly claimAll: (parentId: string) => Effect.Effect<void, StoreError>
  /**
   * Takes up a parent whose wait for children began elsewhere (another process, or this one before a restart): every
   * runnable child of it, and of its descendants that wait for children too, is claimed and driven here (a child whose
   * lease expired included), and later ends here go on with its queue. Called again while the wait lasts: a lease may
   * expire later.
   */
  readonly adopt: (parentId: string) => Effect.Effect<void, StoreError>
}

/** What a runtime says of a task it cannot run, which nothing may run if no other runtime knows it. */
export const unknownTaskWarning = (record: { readonly id: string; readonly name: string }) =>
  Effect.logWarning(
    `task "${record.name}" (${record.id}) has no definition in this runtime, which leaves it for one that has: ` +
      `list it in Runtime.make({ tasks }), then run a worker, or resume its tree's root, to run it here ` +
      `(recover takes back running tasks only)`
  )

export const makeTree = (core: Core, registry: Registry, startDetached: StartDetached): Tree => {
  const { store } = core
  // each child of an adopted tree without a definition here that nobody runs is told of once, not at every sweep
  // (forgotten past a thousand: told again, rather than kept for ever)
  const told = new Set<string>()

  // Tasks with `maxParallel` are claimed by their own drivers, which count their slots.
  const unlimited = () => registry.names().filter((name) => !Number.isFinite(registry.get(name)?.maxParallel ?? 0))

  const drive = (claimed: TaskRecord) => {
    const task = registry.get(claimed.name)
    return task === undefined
      ? Effect.void
      : Effect.asVoid(startDetached(task, claimed.id, { initial: claimed, claimed: true }))
  }

  const claimNext = (parentId: string): Effect.Effect<boolean, StoreError> => {
    const names = unlimited()
    if (names.length === 0) return Effect.succeed(false)
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      store.claimChild(parentId, names, { owner: core.runtimeId, expiresAt: now + core.leaseMillis })
    ).pipe(
      Effect.flatMap((claimed) =>
        Option.isSome(claimed) ? Effect.as(drive(claimed.value), true) : Effect.succeed(false)
      )
    )
  }

  /** The children of `parentId` that have not ended. */
  const liveChildren = (parentId: string) =>
    Effect.map(store.childSummaries(parentId), (children) => children.filter((child) => !isTerminal(child.status)))

  const claimAll = (parentId: string): Effect.Effect<void, StoreError> =>
    Effect.gen(function* () {
      while (yield* claimNext(parentId)) {
        // each claim drives one more child here
      }
    })

  const adopt = (parentId: string): Effect.Effect<void, StoreError> =>
    Effect.gen(function* () {
      core.queuedParents.add(parentId)
      yield* claimAll(parentId)
      const now = yield* Clock.currentTimeMillis
      for (const child of yield* liveChildren(parentId)) {
        if (child.status === "suspended" && child.suspendReason?._tag === "WaitingForChildren") yield* adopt(child.id)
        // its runtime died (another id, so `recover` cannot take it back): a driver here takes it over
        const task = registry.get(child.name)
        const isIdle = child.status === "pending" || (child.status === "running" && (child.leaseExpiresAt ?? 0) < now)
        if (task === undefined && isIdle && !told.has(child.id)) {
          if (told.size >= 1000) told.clear()
          told.add(child.id)
          yield* unknownTaskWarning(child)
        }
        if (child.status === "running" && (child.leaseExpiresAt ?? 0) < now && task !== undefined) {
          yield* startDetached(task, child.id, {})
        }
      }
    })

  return { claimNext, claimAll, adopt }
}
