import { readdirSync, readFileSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Ref, Schedule, Schema } from "effect"
import {
  Children,
  pause,
  SnapshotPlugin,
  Snapshots,
  StatePlugin,
  step,
  TaskInfo,
  TaskStore,
  task,
  waitForSignal
} from "../../src/index.ts"
import { TaskStalled, WaypointTest } from "../../src/testing.ts"

class Boom extends Schema.TaggedError<Boom>()("Boom", { attempt: Schema.Number }) {}

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })

/** Counts how often each named side effect ran, outside any store: what a crash must not make run twice. */
const makeCounter = Effect.map(Ref.make<ReadonlyMap<string, number>>(new Map()), (ref) => ({
  hit: (name: string) => Ref.update(ref, (all) => new Map(all).set(name, (all.get(name) ?? 0) + 1)),
  counts: Effect.map(Ref.get(ref), (all) => Object.fromEntries(all))
}))

describe("WaypointTest", () => {
  it.effect("runs a task until it pauses, then moves time through the pause's delay", () =>
    Effect.gen(function* () {
      const counter = yield* makeCounter
      const napper = task({ name: "napper", input: Schema.Void }, () =>
        Effect.gen(function* () {
          const fetched = yield* step("fetch", Effect.as(counter.hit("fetch"), 42))
          const info = yield* TaskInfo
          if ((yield* counter.counts)[`run:${info.id}`] === undefined) {
            yield* counter.hit(`run:${info.id}`)
            yield* pause({ delay: "1 hour" })
          }
          return fetched
        })
      )
      const test = yield* WaypointTest.make({ plugins: [StatePlugin.make()] })
      const handle = yield* test.submit(napper, undefined)
      const paused = yield* test.runUntilSuspended(handle)
      assert.deepStrictEqual([paused.status, paused.suspendReason], ["suspended", { _tag: "Paused", until: 3_600_000 }])
      yield* test.advance("59 minutes")
      assert.strictEqual(yield* handle.status, "suspended")
      yield* test.advance("1 minute")
      const settled = yield* test.runUntilSettled(handle)
      assert.deepStrictEqual([settled.status, settled.output], ["completed", 42])
      assert.deepStrictEqual([...(yield* test.steps(handle))], [["fetch", 42]])
      assert.strictEqual((yield* counter.counts).fetch, 1)
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("advances through a retry's back-off, attempt by attempt", () =>
    Effect.gen(function* () {
      const flaky = task(
        { name: "flaky", input: Schema.Void, retry: Schedule.spaced("1 minute").pipe(Schedule.upTo({ times: 3 })) },
        () =>
          Effect.flatMap(TaskInfo, (info) =>
            info.attempt < 3 ? Effect.fail(new Boom({ attempt: info.attempt })) : Effect.succeed(info.attempt)
          )
      )
      const test = yield* WaypointTest.make()
      const handle = yield* test.submit(flaky, undefined)
      yield* test.advance("0 millis")
      const waiting = yield* handle.info
      assert.deepStrictEqual([waiting.status, waiting.attempt, waiting.runAt], ["pending", 2, 60_000])
      yield* test.advance("59 seconds")
      assert.strictEqual((yield* handle.info).attempt, 2)
      yield* test.advance("1 second")
      assert.deepStrictEqual([(yield* handle.info).attempt, (yield* handle.info).runAt], [3, 120_000])
      yield* test.advance("1 minute")
      const settled = yield* test.runUntilSettled(handle)
      assert.deepStrictEqual([settled.status, settled.attempt, settled.output], ["completed", 3, 3])
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("sends a signal to a waiting task, and times out a wait nobody answers", () =>
    Effect.gen(function* () {
      const approve = task({ name: "approve", input: Schema.Void }, () =>
        waitForSignal("approval", Approval, { timeout: "1 hour" }).pipe(
          Effect.map(({ by }) => `approved by ${by}`),
          Effect.catchTag("SignalTimeout", () => Effect.succeed("timed out"))
        )
      )
      const test = yield* WaypointTest.make({ plugins: [StatePlugin.make()] })
      const answered = yield* test.submit(approve, undefined)
      const ignored = yield* test.submit(approve, undefined)
      const waiting = yield* test.runUntilSuspended(answered)
      assert.deepStrictEqual(waiting.suspendReason, { _tag: "WaitingForSignal", signal: "approval", until: 3_600_000 })
      yield* test.runUntilSuspended(ignored)
      yield* test.signal(answered, "approval", { approved: true, by: "ada" })
      assert.strictEqual(yield* answered.await, "approved by ada")
      yield* test.advance("59 minutes")
      assert.strictEqual(yield* ignored.status, "suspended")
      yield* test.advance("1 minute")
      assert.strictEqual(yield* ignored.await, "timed out")
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("crashes right after a step committed; restarted, the task resumes and runs no recorded step again", () =>
    Effect.gen(function* () {
      const counter = yield* makeCounter
      const order = task({ name: "order", input: Schema.String }, (item) =>
        Effect.gen(function* () {
          const reserved = yield* step("reserve", Effect.as(counter.hit("reserve"), `${item} reserved`))
          const charged = yield* step("charge", Effect.as(counter.hit("charge"), 10))
          const shipped = yield* step("ship", Effect.as(counter.hit("ship"), "shipped"))
          return `${reserved}, ${charged} charged, ${shipped}`
        })
      )
      const test = yield* WaypointTest.make({ tasks: [order], plugins: [StatePlugin.make()] })
      yield* test.crashAt({ step: "charge", taskId: "order-2" })
      const first = yield* test.submit(order, "pen", { id: "order-1" })
      assert.strictEqual(yield* first.await, "pen reserved, 10 charged, shipped")
      const handle = yield* test.submit(order, "book", { id: "order-2" })
      const atCrash = yield* test.runUntilSuspended(handle)
      assert.isTrue(yield* test.hasCrashed)
      // as a dead process leaves it: running under its lease, nothing written after the charge (no shutdown's requeue)
      assert.deepStrictEqual([atCrash.status, atCrash.attempt, atCrash.leaseOwner], ["running", 1, "waypoint-test"])
      assert.deepStrictEqual([...(yield* test.steps(handle)).keys()], ["reserve", "charge"])
      assert.deepStrictEqual(yield* counter.counts, { reserve: 2, charge: 2, ship: 1 })

      assert.deepStrictEqual(yield* test.restart, [handle.id])
      assert.isFalse(yield* test.hasCrashed)
      assert.strictEqual(yield* handle.await, "book reserved, 10 charged, shipped")
      assert.deepStrictEqual(yield* counter.counts, { reserve: 2, charge: 2, ship: 2 })
      assert.strictEqual((yield* handle.info).attempt, 1, "a crash is not a retry")
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("crashes right after a snapshot was saved; restarted, the task goes on from that snapshot", () =>
    Effect.gen(function* () {
      const counter = yield* makeCounter
      const Progress = Schema.Struct({ row: Schema.Number })
      const importer = task({ name: "importer", input: Schema.Number }, (rows) =>
        Effect.gen(function* () {
          const snapshots = (yield* Snapshots).typed(Progress)
          const { row } = yield* snapshots.latestOr({ row: 0 })
          for (let next = row + 1; next <= rows; next++) {
            yield* counter.hit(`row ${next}`)
            yield* snapshots.save({ row: next })
          }
          return rows
        })
      )
      const test = yield* WaypointTest.make({ tasks: [importer], plugins: [SnapshotPlugin.make()] })
      yield* test.crashAt({ snapshot: 2 })
      const handle = yield* test.submit(importer, 4)
      assert.strictEqual((yield* test.runUntilSuspended(handle)).status, "running")
      assert.isTrue(yield* test.hasCrashed)
      assert.deepStrictEqual(yield* counter.counts, { "row 1": 1, "row 2": 1 })
      yield* test.restart
      assert.strictEqual((yield* test.runUntilSettled(handle)).status, "completed")
      assert.deepStrictEqual(yield* counter.counts, { "row 1": 1, "row 2": 1, "row 3": 1, "row 4": 1 })
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("crashes right after a child was created; restarted, the parent finds that child and completes", () =>
    Effect.gen(function* () {
      const counter = yield* makeCounter
      const research = task({ name: "research", input: Schema.String }, (topic) =>
        Effect.as(counter.hit(`research ${topic}`), `notes on ${topic}`)
      )
      const supervise = task({ name: "supervise", input: Schema.Void }, () =>
        Effect.gen(function* () {
          yield* counter.hit("supervise")
          const child = yield* Children.start(research, "tides", { key: "research/tides" })
          return yield* Children.await(child)
        })
      )
      const test = yield* WaypointTest.make({ tasks: [supervise, research] })
      yield* test.crashAt({ child: "research/tides" })
      const handle = yield* test.submit(supervise, undefined)
      yield* test.runUntilSuspended(handle)
      assert.isTrue(yield* test.hasCrashed)
      yield* test.restart
      assert.strictEqual(yield* handle.await, "notes on tides")
      const store = yield* TaskStore
      const children = (yield* store.list({ parentId: handle.id })).items
      assert.deepStrictEqual(
        children.map((child) => [child.childKey, child.status]),
        [["research/tides", "completed"]]
      )
      assert.strictEqual((yield* counter.counts)["research tides"], 1)
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("restarts at any moment, a crash where the runtime stood", () =>
    Effect.gen(function* () {
      const sleeper = task({ name: "sleeper", input: Schema.Void }, () => Effect.as(Effect.sleep("1 hour"), "rested"))
      const test = yield* WaypointTest.make({ tasks: [sleeper] })
      const handle = yield* test.submit(sleeper, undefined)
      yield* test.advance("30 minutes")
      assert.deepStrictEqual(yield* test.restart, [handle.id])
      // the body runs again from its start: a full hour from the restart
      yield* test.advance("59 minutes")
      assert.strictEqual(yield* handle.status, "running")
      yield* test.advance("1 minute")
      assert.strictEqual(yield* handle.await, "rested")
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("stops at the end of its Scope as a crashed runtime does, writing nothing more", () =>
    Effect.gen(function* () {
      const sleeper = task({ name: "sleeper", input: Schema.Void }, () => Effect.sleep("1 hour"))
      const id = yield* Effect.scoped(
        Effect.gen(function* () {
          const test = yield* WaypointTest.make({ tasks: [sleeper] })
          const handle = yield* test.submit(sleeper, undefined)
          yield* test.advance("1 minute")
          return handle.id
        })
      )
      const store = yield* TaskStore
      const left = Option.getOrThrow(yield* store.get(id))
      // not handed back `pending`, as a shutdown would: left running, for the next life's `recover`
      assert.deepStrictEqual([left.status, left.leaseOwner], ["running", "waypoint-test"])
      const next = yield* WaypointTest.make({ tasks: [sleeper] })
      assert.deepStrictEqual(yield* next.runtime.recover, [id])
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("fails with TaskStalled when a task cannot get where a test waits without time moving", () =>
    Effect.gen(function* () {
      const sleeper = task({ name: "sleeper", input: Schema.Void }, () => Effect.sleep("1 hour"))
      const test = yield* WaypointTest.make({ stallTimeout: "20 millis" })
      const handle = yield* test.submit(sleeper, undefined)
      const error = yield* Effect.flip(test.runUntilSettled(handle))
      assert.deepStrictEqual(error, new TaskStalled({ taskId: handle.id, status: "running", waitingFor: "settled" }))
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("crashes a child at its step; restarted, the child resumes and its end wakes the waiting parent", () =>
    Effect.gen(function* () {
      const counter = yield* makeCounter
      const agent = task({ name: "agent", input: Schema.String }, (topic) =>
        Effect.gen(function* () {
          const found = yield* step("search", Effect.as(counter.hit(`search ${topic}`), `${topic}: 3 sources`))
          return yield* step("write", Effect.as(counter.hit(`write ${topic}`), `${found}, written`))
        })
      )
      const supervise = task({ name: "supervise", input: Schema.Array(Schema.String) }, (topics) =>
        Children.all(topics.map((topic) => Children.spec(agent, topic, { key: topic })))
      )
      const test = yield* WaypointTest.make({ tasks: [supervise, agent], plugins: [StatePlugin.make()] })
      yield* test.crashAt({ step: "search" })
      const handle = yield* test.submit(supervise, ["tides", "winds"])
      yield* test.runUntilSettled(handle)
      assert.isTrue(yield* test.hasCrashed)
      const store = yield* TaskStore
      const agents = (yield* store.list({ parentId: handle.id })).items
      const recorded = yield* Effect.forEach(agents, (child) =>
        Effect.map(test.steps(child), (steps) => [...steps.keys()])
      )
      assert.deepStrictEqual(recorded.flat(), ["search"], "one agent's search stored, then nothing")
      yield* test.restart
      assert.deepStrictEqual(yield* handle.await, ["tides: 3 sources, written", "winds: 3 sources, written"])
      assert.deepStrictEqual(yield* counter.counts, {
        "search tides": 1,
        "search winds": 1,
        "write tides": 1,
        "write winds": 1
      })
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it.effect("keeps the body's typed error for a handle awaited after the task ended", () =>
    Effect.gen(function* () {
      const doomed = task({ name: "doomed", input: Schema.Void }, () => Effect.fail(new Boom({ attempt: 1 })))
      const test = yield* WaypointTest.make()
      const handle = yield* test.submit(doomed, undefined)
      assert.strictEqual((yield* test.runUntilSettled(handle)).status, "failed")
      const error = yield* Effect.flip(handle.await)
      assert.deepStrictEqual(error, new Boom({ attempt: 1 }))
    }).pipe(Effect.provide(WaypointTest.layer))
  )

  it("loads no test runner: the kit's modules import effect and the core only", () => {
    const kit = new URL("../../src/testing/kit/", import.meta.url)
    const files = readdirSync(kit, { recursive: true, encoding: "utf8" }).filter((name) => name.endsWith(".ts"))
    assert.isAtLeast(files.length, 5)
    for (const name of files) {
      const source = readFileSync(new URL(name, kit), "utf8")
      for (const [, from] of source.matchAll(/^(?:import|export)\b[^"]*?from "([^"]+)"/gm)) {
        const allowed =
          from === "effect" ||
          from === "effect/testing" ||
          /^\.\.\/(\.\.\/)*(runtime|stores)\//.test(from) ||
          (from.startsWith(".") && !from.startsWith("../../") && !from.startsWith("../../../"))
        assert.isTrue(allowed || /^\.\.\/\.\.\/\.\.\/(runtime|stores)\//.test(from), `${name} imports ${from}`)
      }
    }
  })

  it("works without a test runner's help, from Effect.runPromise", async () => {
    const greet = task({ name: "greet", input: Schema.String }, (name) => Effect.succeed(`hello ${name}`))
    const program = Effect.gen(function* () {
      const test = yield* WaypointTest.make()
      const handle = yield* test.submit(greet, "Ada")
      return Option.fromUndefinedOr((yield* test.runUntilSettled(handle)).output)
    }).pipe(Effect.scoped, Effect.provide(WaypointTest.layer))
    assert.deepStrictEqual(await Effect.runPromise(program), Option.some("hello Ada"))
  })
})
