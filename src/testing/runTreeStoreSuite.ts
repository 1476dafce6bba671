/**
 * The RunTreeStore contract, run against any store that keeps tasks, progress and snapshots together:
 * `runTreeStoreSuite("memory", MemoryStore.layer)`. Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, type Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { ProgressStore } from "../stores/ProgressStore.ts"
import { RunTreeStore, type TreeRow } from "../stores/RunTreeStore.ts"
import { SnapshotStore } from "../stores/SnapshotStore.ts"
import { isTerminal } from "../stores/TaskRecord.ts"
import { TaskStore } from "../stores/TaskStore.ts"

type Stores = RunTreeStore | TaskStore | ProgressStore | SnapshotStore

const lease = { owner: "w", expiresAt: 1_000_000 }

/** A task created now, then a millisecond passes: tasks made in turn have distinct creation times. */
const created = (id: string, parentId?: string, key?: string, withLease = false) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    const record = yield* store.create({
      id,
      name: parentId === undefined ? "root" : "agent",
      input: id,
      parentId,
      childKey: key,
      lease: withLease ? lease : undefined
    })
    yield* TestClock.adjust("1 millis")
    return record
  })

const readTree = (rootId: string) =>
  Effect.flatMap(RunTreeStore, (trees) => Effect.map(trees.read(rootId), Option.getOrThrow))

const idsOf = (rows: ReadonlyArray<TreeRow>) => rows.map((row) => row.record.id)

export const runTreeStoreSuite = <E>(name: string, layer: Layer.Layer<Stores, E>) =>
  describe(`RunTreeStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, Stores>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "reads nothing for an id no task has",
      Effect.gen(function* () {
        const trees = yield* RunTreeStore
        assert.isTrue(Option.isNone(yield* trees.read("missing")))
      })
    )

    test(
      "reads the root, then each task after its parent, siblings in the order they were created",
      Effect.gen(function* () {
        yield* created("root")
        // ids that sort against their creation order: the order read is the creation order
        yield* created("z-first", "root", "research")
        yield* created("m-grandchild", "z-first", "summary-0")
        yield* created("a-second", "root", "writer")
        yield* created("other-root")
        yield* created("other-child", "other-root", "research")
        const rows = yield* readTree("root")
        assert.deepStrictEqual(idsOf(rows), ["root", "z-first", "m-grandchild", "a-second"])
        assert.deepStrictEqual(
          rows.map((row) => [row.record.parentId, row.record.childKey, row.record.input]),
          [
            [undefined, undefined, "root"],
            ["root", "research", "z-first"],
            ["z-first", "summary-0", "m-grandchild"],
            ["root", "writer", "a-second"]
          ]
        )
        // a subtree reads from its own root
        assert.deepStrictEqual(idsOf(yield* readTree("z-first")), ["z-first", "m-grandchild"])
      })
    )

    test(
      "gives each task its latest progress and the version of its newest snapshot",
      Effect.gen(function* () {
        yield* created("root")
        yield* created("child", "root", "research")
        const progress = yield* ProgressStore
        const snapshots = yield* SnapshotStore
        yield* progress.setLatest("child", { percent: 40, message: "half way", updatedAt: 7 })
        yield* progress.setLatest("child", { status: "reading", updatedAt: 9 })
        yield* snapshots.save({ taskId: "root", data: { step: 1 }, checkpoint: false })
        yield* snapshots.save({ taskId: "root", data: { step: 2 }, checkpoint: true })
        const [root, child] = yield* readTree("root")
        assert.strictEqual(root?.snapshotVersion, 2)
        assert.isUndefined(root?.progress)
        assert.isUndefined(child?.snapshotVersion)
        assert.deepStrictEqual(child?.progress, {
          taskId: "child",
          percent: 40,
          message: "half way",
          status: "reading",
          updatedAt: 9
        })
      })
    )

    test(
      "reads a tree at one instant while its children end: the parent's count matches the children read with it",
      Effect.gen(function* () {
        const store = yield* TaskStore
        const parent = yield* created("parent", undefined, undefined, true)
        const n = 24
        const tokens: Array<number> = []
        for (let i = 0; i < n; i++) tokens.push((yield* created(`child-${i}`, "parent", `k${i}`, true)).fencingToken)
        const children = tokens.map((_, i) => `child-${i}`)
        yield* store.finish("parent", parent.fencingToken, { _tag: "AwaitingChildren", children, mode: "all" })
        // the children end, 4 at a time, while trees are read
        const ending = yield* Effect.forkChild(
          Effect.forEach(
            children,
            (id, i) =>
              Effect.andThen(store.finish(id, tokens[i] as number, { _tag: "Completed", output: i }), Effect.yieldNow),
            { concurrency: 4, discard: true }
          )
        )
        let reads = 0
        let seenBetween = false
        while (true) {
          const [root, ...rest] = yield* readTree("parent")
          const unfinished = rest.filter((row) => !isTerminal(row.record.status)).length
          reads++
          if (unfinished === 0) {
            assert.strictEqual(root?.record.status, "pending", "runnable once every child has ended")
            break
          }
          if (unfinished < n) seenBetween = true
          const reason = root?.record.suspendReason
          assert.strictEqual(root?.record.status, "suspended")
          assert.deepStrictEqual(
            reason?._tag === "WaitingForChildren" ? reason.remaining : undefined,
            unfinished,
            `read ${reads}: the parent's count and its children's statuses are of one instant`
          )
          yield* Effect.yieldNow
        }
        yield* Fiber.join(ending)
        assert.isTrue(seenBetween, "some read fell while the children were ending")
      })
    )
  })
