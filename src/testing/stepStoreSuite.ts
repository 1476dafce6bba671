/**
 * The StepStore contract, run against any store: `stepStoreSuite("memory", MemoryStepStore.layer)`.
 * Each test gets a fresh layer, so stores must start empty.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Layer, Option, type Schema } from "effect"
import { StepStore } from "../stores/StepStore.ts"

/** Values a driver could get wrong: strings that look like JSON, JSON null, empty containers, nesting, unicode. */
const jsonValues: ReadonlyArray<Schema.Json> = [
  "123",
  "null",
  '{"a":1}',
  "",
  null,
  0,
  -1.5,
  1e21,
  0.1 + 0.2,
  true,
  false,
  [],
  {},
  [null, [null]],
  { nested: [1, { b: "ü😀", c: null }], 'key with "quotes"': "\\n" }
]

export const stepStoreSuite = <E>(name: string, layer: Layer.Layer<StepStore, E>) =>
  describe(`StepStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, StepStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(layer)) as Effect.Effect<void, unknown>)

    test(
      "reads an unrecorded step as None and a task without steps as an empty map",
      Effect.gen(function* () {
        const store = yield* StepStore
        assert.isTrue(Option.isNone(yield* store.getStep("t1", "missing")))
        assert.strictEqual((yield* store.listSteps("t1")).size, 0)
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 0)
      })
    )

    test(
      "keeps the first value put under a step key and returns it to every later put",
      Effect.gen(function* () {
        const store = yield* StepStore
        assert.deepStrictEqual(yield* store.putStep("t1", "fetch", { n: 1 }), { n: 1 })
        assert.deepStrictEqual(yield* store.putStep("t1", "fetch", { n: 2 }), { n: 1 })
        assert.deepStrictEqual(yield* store.putStep("t1", "fetch", null), { n: 1 })
        assert.deepStrictEqual(yield* store.getStep("t1", "fetch"), Option.some({ n: 1 }))
      })
    )

    test(
      "records null as a value: a step put with null reads as Some(null) and is not overwritten",
      Effect.gen(function* () {
        const store = yield* StepStore
        assert.strictEqual(yield* store.putStep("t1", "nothing", null), null)
        assert.strictEqual(yield* store.putStep("t1", "nothing", "later"), null)
        assert.deepStrictEqual(yield* store.getStep("t1", "nothing"), Option.some(null))
      })
    )

    test(
      "lets exactly one of many concurrent puts of one step key win, and returns its value to all",
      Effect.gen(function* () {
        const store = yield* StepStore
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => store.putStep("t1", "race", i)),
          { concurrency: "unbounded" }
        )
        const winner = Option.getOrThrow(yield* store.getStep("t1", "race"))
        assert.deepStrictEqual(new Set(results), new Set([winner]))
      })
    )

    test(
      "lists every step of one task and none of another",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* store.putStep("t1", "a", 1)
        yield* store.putStep("t1", "b", "two")
        yield* store.putStep("t2", "a", "other task")
        const steps = yield* store.listSteps("t1")
        assert.deepStrictEqual(
          [...steps.entries()].sort(([x], [y]) => x.localeCompare(y)),
          [
            ["a", 1],
            ["b", "two"]
          ]
        )
        assert.deepStrictEqual(yield* store.getStep("t2", "a"), Option.some("other task"))
        assert.isTrue(Option.isNone(yield* store.getStep("t2", "b")))
      })
    )

    test(
      "reads back every JSON value exactly, from getStep, putStep, listSteps and receiveSignal",
      Effect.gen(function* () {
        const store = yield* StepStore
        for (const [i, value] of jsonValues.entries()) {
          assert.deepStrictEqual(yield* store.putStep("t1", `put${i}`, value), value, `putStep of ${i}`)
          assert.deepStrictEqual(yield* store.getStep("t1", `put${i}`), Option.some(value), `getStep of ${i}`)
          yield* store.sendSignal("t1", "data", value)
        }
        for (const [i, value] of jsonValues.entries()) {
          assert.deepStrictEqual(yield* store.receiveSignal("t1", "data", `got${i}`), Option.some(value), `signal ${i}`)
          assert.deepStrictEqual(yield* store.getStep("t1", `got${i}`), Option.some(value), `received ${i}`)
        }
        const steps = yield* store.listSteps("t1")
        for (const [i, value] of jsonValues.entries()) {
          assert.isTrue(steps.has(`put${i}`) && steps.has(`got${i}`), `listSteps has ${i}`)
          assert.deepStrictEqual(steps.get(`put${i}`), value, `listSteps of put${i}`)
          assert.deepStrictEqual(steps.get(`got${i}`), value, `listSteps of got${i}`)
        }
      })
    )

    test(
      "receives the signals of a name oldest first, each under its step key, then None",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* store.sendSignal("t1", "approve", "first")
        yield* store.sendSignal("t1", "approve", "second")
        yield* store.sendSignal("t1", "approve", "third")
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 3)
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s1"), Option.some("first"))
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s2"), Option.some("second"))
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 1)
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s3"), Option.some("third"))
        assert.isTrue(Option.isNone(yield* store.receiveSignal("t1", "approve", "s4")))
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 0)
        assert.deepStrictEqual(yield* store.getStep("t1", "s2"), Option.some("second"))
      })
    )

    test(
      "records nothing when no signal waits, so a later signal is received under the same step key",
      Effect.gen(function* () {
        const store = yield* StepStore
        assert.isTrue(Option.isNone(yield* store.receiveSignal("t1", "approve", "wait")))
        assert.isTrue(Option.isNone(yield* store.getStep("t1", "wait")))
        yield* store.sendSignal("t1", "approve", { ok: true })
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "wait"), Option.some({ ok: true }))
      })
    )

    test(
      "keeps mailboxes apart by task and by name",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* store.sendSignal("t1", "approve", "t1-approve")
        yield* store.sendSignal("t1", "reject", "t1-reject")
        yield* store.sendSignal("t2", "approve", "t2-approve")
        assert.deepStrictEqual(
          [
            yield* store.pendingSignals("t1", "approve"),
            yield* store.pendingSignals("t1", "reject"),
            yield* store.pendingSignals("t2", "approve"),
            yield* store.pendingSignals("t2", "reject")
          ],
          [1, 1, 1, 0]
        )
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s"), Option.some("t1-approve"))
        assert.isTrue(Option.isNone(yield* store.receiveSignal("t2", "reject", "s")))
        assert.deepStrictEqual(yield* store.receiveSignal("t2", "approve", "s"), Option.some("t2-approve"))
        assert.deepStrictEqual([yield* store.pendingSignals("t1", "reject")], [1])
      })
    )

    test(
      "returns the value already recorded under the step key and consumes no signal",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* store.putStep("t1", "s1", "recorded before")
        yield* store.sendSignal("t1", "approve", "waiting")
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s1"), Option.some("recorded before"))
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 1)
        // a re-run receiving again under a step key it already received on reads the same answer
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s2"), Option.some("waiting"))
        yield* store.sendSignal("t1", "approve", "next")
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "s2"), Option.some("waiting"))
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 1)
      })
    )

    test(
      "delivers each of 50 signals exactly once to 50 concurrent receivers with distinct step keys",
      Effect.gen(function* () {
        const store = yield* StepStore
        const count = 50
        yield* Effect.forEach(
          Array.from({ length: count }, (_, i) => i),
          (i) => store.sendSignal("t1", "work", i)
        )
        const received = yield* Effect.all(
          Array.from({ length: count }, (_, i) => store.receiveSignal("t1", "work", `r${i}`)),
          { concurrency: "unbounded" }
        )
        const payloads = received.map((payload) => Number(Option.getOrThrow(payload)))
        assert.deepStrictEqual(
          [...payloads].sort((a, b) => a - b),
          Array.from({ length: count }, (_, i) => i),
          "no signal delivered twice, none lost"
        )
        assert.strictEqual(yield* store.pendingSignals("t1", "work"), 0)
        const steps = yield* store.listSteps("t1")
        for (let i = 0; i < count; i++) assert.strictEqual(steps.get(`r${i}`), payloads[i], `step r${i}`)
      })
    )

    test(
      "hands out only the signals that wait when receivers outnumber them, each once",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          (i) => store.sendSignal("t1", "work", i)
        )
        const received = yield* Effect.all(
          Array.from({ length: 50 }, (_, i) => store.receiveSignal("t1", "work", `r${i}`)),
          { concurrency: "unbounded" }
        )
        const payloads = received.filter(Option.isSome).map((payload) => Number(payload.value))
        assert.deepStrictEqual(
          [...payloads].sort((a, b) => a - b),
          Array.from({ length: 20 }, (_, i) => i)
        )
        assert.strictEqual(yield* store.pendingSignals("t1", "work"), 0)
        assert.strictEqual((yield* store.listSteps("t1")).size, 20, "a receiver that got nothing recorded nothing")
      })
    )

    test(
      "consumes only the oldest signal for many concurrent receives under one step key, and returns it to all",
      Effect.gen(function* () {
        const store = yield* StepStore
        yield* Effect.forEach(["a", "b", "c"], (payload) => store.sendSignal("t1", "approve", payload))
        const received = yield* Effect.all(
          Array.from({ length: 10 }, () => store.receiveSignal("t1", "approve", "same")),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(new Set(received.map(Option.getOrThrow)), new Set(["a"]))
        assert.deepStrictEqual(yield* store.getStep("t1", "same"), Option.some("a"))
        assert.strictEqual(yield* store.pendingSignals("t1", "approve"), 2)
        assert.deepStrictEqual(yield* store.receiveSignal("t1", "approve", "next"), Option.some("b"))
      })
    )
  })
