import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option, Schedule, Schema } from "effect"
import { Children, MemoryStore, Runtime, TaskInfo, TaskStore, task } from "../../src/index.ts"
import { type Durable, pause, waitForSignal } from "../../src/plugins/state/Durable.ts"
import * as StatePlugin from "../../src/plugins/state/StatePlugin.ts"
import type { TaskState } from "../../src/plugins/state/TaskState.ts"

/** Each run of a body, as `[task name, firstRun]`, in order. */
const makeLog = () => {
  const runs: Array<readonly [string, boolean]> = []
  const note = Effect.flatMap(Effect.service(TaskInfo), (info) =>
    Effect.sync(() => runs.push([info.name, info.firstRun]))
  )
  return { runs, note }
}

const withRuntime = <A, E>(f: (runtime: Runtime.Runtime<TaskState | Durable>) => Effect.Effect<A, E, TaskStore>) =>
  Effect.gen(function* () {
    const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
    return yield* f(runtime)
  }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

/** Yields until the task is suspended (the memory store answers at once: no clock involved). */
const untilSuspended = (id: string) =>
  Effect.gen(function* () {
    const store = yield* TaskStore
    for (let i = 0; i < 1000; i++) {
      const record = yield* store.get(id)
      if (Option.isSome(record) && record.value.status === "suspended") return
      yield* Effect.yieldNow
    }
    assert.fail(`task ${id} never suspended`)
  })

describe("TaskInfo.firstRun", () => {
  it.effect("is true on a fresh task's only run, started by run, submit and as a child", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const { runs, note } = makeLog()
        const child = task({ name: "child", input: Schema.Void }, () => note)
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Effect.gen(function* () {
            yield* note
            const started = yield* Children.start(child, undefined, { key: "c" })
            yield* Children.await(started)
          })
        )
        const plain = task({ name: "plain", input: Schema.Void }, () => note)
        yield* runtime.run(plain, undefined)
        yield* (yield* runtime.submit(plain, undefined)).await
        yield* runtime.run(parent, undefined)
        assert.deepStrictEqual(runs, [
          ["plain", true],
          ["plain", true],
          ["parent", true],
          ["child", true]
        ])
      })
    )
  )

  it.effect("is false after a pause, in the run that resumes it at the same attempt", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const { runs, note } = makeLog()
        let count = 0
        const paused = task({ name: "paused", input: Schema.Void }, () =>
          Effect.gen(function* () {
            yield* note
            if (count++ === 0) yield* pause()
          })
        )
        yield* runtime.run(paused, undefined)
        assert.deepStrictEqual(runs, [
          ["paused", true],
          ["paused", false]
        ])
      })
    )
  )

  it.effect("is false after a wait for children, in the parent's run once they ended", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const { runs, note } = makeLog()
        const gate = yield* Deferred.make<void>()
        const child = task({ name: "child", input: Schema.Void }, () => Effect.andThen(note, Deferred.await(gate)))
        const parent = task({ name: "parent", input: Schema.Void }, () =>
          Effect.gen(function* () {
            yield* note
            yield* Children.await(yield* Children.start(child, undefined, { key: "c" }))
          })
        )
        const handle = yield* runtime.submit(parent, undefined)
        yield* untilSuspended(handle.id)
        yield* Deferred.succeed(gate, undefined)
        yield* handle.await
        assert.deepStrictEqual(runs, [
          ["parent", true],
          ["child", true],
          ["parent", false]
        ])
      })
    )
  )

  it.effect("is false after a signal wait", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const { runs, note } = makeLog()
        const waiting = task({ name: "waiting", input: Schema.Void }, () =>
          Effect.andThen(note, waitForSignal("go", Schema.Number))
        )
        const handle = yield* runtime.submit(waiting, undefined)
        yield* untilSuspended(handle.id)
        yield* handle.signal("go", 7)
        assert.strictEqual(yield* handle.await, 7)
        assert.deepStrictEqual(runs, [
          ["waiting", true],
          ["waiting", false]
        ])
      })
    )
  )

  it.effect("is false on a retry", () =>
    withRuntime((runtime) =>
      Effect.gen(function* () {
        const { runs, note } = makeLog()
        const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.recurs(1) }, () =>
          Effect.andThen(
            note,
            Effect.flatMap(Effect.service(TaskInfo), (info) => (info.attempt === 1 ? Effect.fail("boom") : Effect.void))
          )
        )
        yield* runtime.run(flaky, undefined)
        assert.deepStrictEqual(runs, [
          ["flaky", true],
          ["flaky", false]
        ])
      })
    )
  )

  it.effect("is false for a task recovered after its worker crashed, and for a forked task", () =>
    Effect.gen(function* () {
      const { runs, note } = makeLog()
      const orphan = task({ name: "orphan", input: Schema.Void }, () => note)
      const store = yield* TaskStore
      // worker-1 claimed the task (its first claim) and died before its body could write anything it would know of
      yield* store.create({ id: "o", name: "orphan", input: null })
      const claimed = yield* store.claim("o", { owner: "worker-1", expiresAt: 3_600_000 })
      assert.isTrue(Option.getOrThrow(claimed).firstClaim)
      // forked from a checkpoint, which copies steps and state in before its first claim
      yield* store.create({ id: "f", name: "orphan", input: null, forkedFrom: { taskId: "o", checkpointId: "cp" } })
      const runtime = yield* Runtime.make({ id: "worker-1", tasks: [orphan], plugins: [StatePlugin.make()] })
      assert.deepStrictEqual(yield* runtime.recover, ["o"])
      yield* runtime.handle(orphan, "o").await
      yield* runtime.resume("f").pipe(Effect.ignore)
      yield* runtime.handle(orphan, "f").await
      assert.deepStrictEqual(runs, [
        ["orphan", false],
        ["orphan", false]
      ])
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))
  )
})

describe("MemoryTaskStore: a claim says whether it is the task's first", () => {
  // (every store's answers are checked by the taskStoreSuite; the memory store always tells)
  it.effect("true on the first claim of each kind, absent after", () =>
    Effect.gen(function* () {
      const store = yield* TaskStore
      const lease = { owner: "w", expiresAt: 3_600_000 }
      const created = yield* store.create({ id: "a", name: "t", input: null, lease })
      yield* store.finish("a", created.fencingToken, { _tag: "Suspended", reason: { _tag: "Paused" }, runAt: 0 })
      assert.isUndefined(Option.getOrThrow(yield* store.claim("a", lease)).firstClaim, "after a suspension")
      yield* store.create({ id: "b", name: "t", input: null })
      assert.isTrue(Option.getOrThrow(yield* store.claim("b", lease)).firstClaim)
      yield* store.create({ id: "c", name: "t", input: null, parentId: "b" })
      assert.isTrue(Option.getOrThrow(yield* store.claimChild("b", ["t"], lease)).firstClaim)
    }).pipe(Effect.provide(MemoryStore.layer))
  )
})
