/**
 * The events of a run tree: a root's and all its descendants', as they happen, resumable after a sequence number. The
 * tree's tasks are read from the store once (each parent's children at once, level by level); a child made later joins
 * by its first event, which names its parent. Only the events of tasks this runtime drives are in its event log.
 */
import { Effect, Stream } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import type { TaskNotFound } from "../errors.ts"
import type { TaskEvent } from "../TaskEvent.ts"
import type { Core } from "./core.ts"

/** The ids of `rootId` and every task under it, as the store holds them now. */
const membersOf = (core: Core, rootId: string) =>
  Effect.gen(function* () {
    yield* core.readRecord(rootId)
    const members = new Set<string>([rootId])
    let level = [rootId]
    while (level.length > 0) {
      const next: Array<string> = []
      for (const parentId of level) {
        for (const child of yield* core.store.childSummaries(parentId)) {
          members.add(child.id)
          next.push(child.id)
        }
      }
      level = next
    }
    return members
  })

export const subscribeTree = (
  core: Core,
  rootId: string,
  options: { readonly after?: number | undefined } = {}
): Stream.Stream<TaskEvent, TaskNotFound | StoreError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      // Numbered before the store is read: every event from then on comes from the history or live, none is missed.
      const seen = yield* core.events.lastSeq
      const members = yield* membersOf(core, rootId)
      const after = options.after === undefined ? seen : Math.min(options.after, seen)
      return Stream.filter(core.events.subscribe({ after }), (event) => {
        if (members.has(event.taskId)) return true
        if (event._tag !== "StatusChanged" || event.parentId === undefined || !members.has(event.parentId)) {
          return false
        }
        members.add(event.taskId)
        return true
      })
    })
  )
