/**
 * Group commit: the callers that write one key while a batch of it is being written wait, and are written together
 * in the next batch, led by the first of them. Each caller resumes once the batch holding its request is settled,
 * with its own outcome, and requests are settled in the order they came. A leader interrupted before its batch is
 * settled hands what is left of it, in order, to the next leader: nothing is lost.
 */
import { Effect, type Exit } from "effect"

/** One caller's request in a batch; the batch's commit settles it by setting `outcome`. */
export interface Member<I> {
  readonly input: I
  outcome: Exit.Exit<unknown, unknown> | undefined
  /** Resumes the caller waiting in the queue: with its outcome once settled, otherwise to lead the next batch. */
  wake: (() => void) | undefined
  /** Its caller was interrupted: it no longer reads its outcome, and must not lead. */
  isAbandoned: boolean
}

/** Makes `effect` interruptible again when the caller was (`Effect.uninterruptibleMask`'s `restore`). */
export type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Writes a batch of `key` in `group`, in the order of its members, and sets the outcome of each member it settles;
 * the members it leaves unsettled go first in the next batch. It runs uninterruptibly, and must pass every wait
 * through `restore`; it fails only when its fiber is interrupted.
 */
export type Commit<I, R> = (
  group: string,
  key: string,
  batch: ReadonlyArray<Member<I>>,
  restore: Restore
) => Effect.Effect<void, unknown, R>

export interface GroupCommit<I> {
  /**
   * Queues `input` under `key` of `group`. The caller leads a batch when no batch of that key is being written (with
   * its own `commit`); otherwise it waits for a leader to settle it. Returns the outcome its batch gave it.
   */
  readonly submit: <R>(group: string, key: string, input: I, commit: Commit<I, R>) => Effect.Effect<unknown, unknown, R>
  /** How many keys have a queue now; a key nobody writes has none. */
  readonly size: () => number
}

/** Resumes in a microtask: after the synchronous code running now, such as a loop forking fibers, but before I/O. */
const nextMicrotask: Effect.Effect<void> = Effect.callback<void>((resume) => {
  queueMicrotask(() => resume(Effect.void))
})

interface Queue<I> {
  readonly group: string
  readonly key: string
  /** The callers waiting for the next batch, oldest first. */
  waiting: Array<Member<I>>
  isBusy: boolean
}

/** An empty set of queues, one per key written. */
export const makeGroupCommit = <I>(): GroupCommit<I> => {
  // By group, then key: no key string to build for each call.
  const groups = new Map<string, Map<string, Queue<I>>>()
  let size = 0

  const queueOf = (group: string, key: string): Queue<I> => {
    let queues = groups.get(group)
    if (queues === undefined) {
      queues = new Map()
      groups.set(group, queues)
    }
    let queue = queues.get(key)
    if (queue === undefined) {
      queue = { group, key, waiting: [], isBusy: false }
      queues.set(key, queue)
      size++
    }
    return queue
  }

  // The queue stays busy from one leader to the next, so that no caller arriving meanwhile leads ahead of them.
  const handOff = (queue: Queue<I>) => {
    const next = queue.waiting.shift()
    if (next !== undefined) return next.wake?.()
    queue.isBusy = false
    const queues = groups.get(queue.group)
    if (queues?.get(queue.key) !== queue) return
    queues.delete(queue.key)
    size--
    if (queues.size === 0) groups.delete(queue.group)
  }

  // Settled members resume; the others go back to the front of the queue, in order, for the next leader.
  const finish = (queue: Queue<I>, batch: ReadonlyArray<Member<I>>) => {
    const unsettled: Array<Member<I>> = []
    const settled: Array<Member<I>> = []
    for (let i = 1; i < batch.length; i++) {
      const member = batch[i] as Member<I>
      if (member.outcome !== undefined) settled.push(member)
      else if (!member.isAbandoned) unsettled.push(member)
    }
    if (unsettled.length > 0) queue.waiting = unsettled.concat(queue.waiting)
    // Before waking anyone: a woken caller that writes the key again must queue behind the ones put back.
    for (const member of settled) member.wake?.()
    handOff(queue)
  }

  // A leader yields once before it takes its batch, so that the callers started in the same tick (an `Effect.all`
  // of modifies) join it: over a store that answers at once, such as memory, no caller would ever wait otherwise. It
  // also keeps a run of batches, each woken by the one before, off one stack.
  const lead = <R>(queue: Queue<I>, leader: Member<I>, commit: Commit<I, R>, restore: Restore) =>
    Effect.andThen(
      nextMicrotask,
      Effect.suspend(() => {
        const batch = [leader].concat(queue.waiting)
        queue.waiting = []
        return Effect.andThen(
          Effect.ensuring(
            commit(queue.group, queue.key, batch, restore),
            Effect.sync(() => finish(queue, batch))
          ),
          Effect.suspend(
            () => leader.outcome ?? Effect.die(new Error("group commit: the leader's batch left it unsettled"))
          )
        )
      })
    )

  const submit = <R>(group: string, key: string, input: I, commit: Commit<I, R>): Effect.Effect<unknown, unknown, R> =>
    Effect.uninterruptibleMask((restore) => {
      const queue = queueOf(group, key)
      const member: Member<I> = { input, outcome: undefined, wake: undefined, isAbandoned: false }
      if (!queue.isBusy) {
        queue.isBusy = true
        return lead(queue, member, commit, restore)
      }
      return restore(
        Effect.callback<unknown, unknown, R>((resume) => {
          // The batch may have ended since the check above (the scheduler can switch fibers in between): start over.
          if (!queue.isBusy) return resume(submit(group, key, input, commit))
          // Resumed inline by the waker: the lead begins, uninterruptible, before any interruption can come in.
          member.wake = () =>
            resume(member.outcome ?? Effect.uninterruptibleMask((restore) => lead(queue, member, commit, restore)))
          queue.waiting.push(member)
          return Effect.sync(() => {
            member.isAbandoned = true
            const index = queue.waiting.indexOf(member)
            if (index >= 0) queue.waiting.splice(index, 1)
          })
        })
      )
    })

  return { submit, size: () => size }
}
