/**
 * What recording a model call costs: `LanguageModel.generateText` under the `ModelCalls` plugin against the same call
 * made bare with the scripted model, on PGlite (a temp folder) and, when DATABASE_URL is set, on a server (a fresh
 * database), from one run. Each round, in turns (which side goes first alternating), on the same store:
 * - bare: N calls (distinct prompts) in one task body of a runtime without the plugin, the scripted model given to
 *   the body itself;
 * - recorded: the same N calls in one task body under the plugin, nothing recorded yet (each call: its request's
 *   fingerprint, the model, one fenced `checkpoint` write; the task's records are read once per run of the body, at
 *   its first call);
 * - replay: the same body run again (it pauses once at its end), every call answered from its record (the
 *   fingerprint, the record decoded: no round trip but the one read of the run's first call);
 * - the floors, through the store's own API: a `getStep` of a missing key, a `getStep` of a recorded one, a fenced
 *   `checkpoint` of the very record a call wrote (one round trip: the write a recorded call adds), a raw `SELECT 1`
 *   on the store's client, and the fingerprint alone (the prompt encoded, its canonical JSON, SHA-256; no store).
 * Each scenario is timed inside the task body around its N calls (so the task's own start and end are not counted,
 * and are the same on both sides), per call; each floor likewise over N operations; the medians of the rounds.
 * Target: recorded - bare <= one store round trip (the checkpoint write). On the server the statements a recorded
 * call sends are counted too.
 * A memory store runs first, as the plugin's own CPU cost (no round trip at all).
 * Run: npm run bench:models (BENCH_CALLS=500 sets N, BENCH_ROUNDS=3 the rounds).
 */
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sql } from "drizzle-orm"
import { Effect, Layer, Option, Schema } from "effect"
import { LanguageModel, Prompt } from "effect/ai"
import { ModelCalls } from "../src/ai.ts"
import { MemoryStore, pause, Runtime, StatePlugin, StepStore, TaskStore, task } from "../src/index.ts"
import type { LeaseLost, StoreError } from "../src/stores/errors.ts"
import { Db, execute } from "../src/stores/postgres/Db.ts"
import * as PgliteDb from "../src/stores/postgres/PgliteDb.ts"
import * as PgStores from "../src/stores/postgres/PgStores.ts"
import * as PostgresDb from "../src/stores/postgres/PostgresDb.ts"
import { canonicalJson, sha256Hex } from "../src/stores/SnapshotStore.ts"
import { ScriptedModel } from "../src/testing/index.ts"
import { freshDatabase } from "./freshDatabase.ts"

const CALLS = Number(process.env.BENCH_CALLS ?? 500)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const WARMUP_CALLS = 200

/** Statements the server client has sent (postgres.js `debug`): a recorded call's round trips are counted. */
let sent = 0
const countSent = () => {
  sent++
}

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

/**
 * Microseconds per operation of each of `ops`, run `n` times each in turns (one of each, then again), so that every
 * floor is taken in the same moments of a machine whose load drifts.
 */
const inTurns = <K extends string>(
  n: number,
  ops: Record<K, (i: number) => Effect.Effect<unknown, StoreError | LeaseLost>>
) =>
  Effect.gen(function* () {
    const names = Object.keys(ops) as Array<K>
    const totals = new Map<K, number>(names.map((name) => [name, 0]))
    for (let i = 0; i < n; i++) {
      for (const name of names) {
        const start = performance.now()
        yield* ops[name](i)
        totals.set(name, (totals.get(name) ?? 0) + performance.now() - start)
      }
    }
    return Object.fromEntries(names.map((name) => [name, ((totals.get(name) ?? 0) * 1000) / n])) as Record<K, number>
  })

const promptOf = (round: number, i: number) => `question ${round}-${i}: what is ${i} + ${round}?`

/** The scripted answer: a short text, usage, a model id (as a provider's answer has). */
const answer = () => ({ text: "an answer of a few words", usage: { inputTokens: 12, outputTokens: 6 } })

/** The fingerprint a recorded call takes of its request, as `DurableModel` takes it, without a store. */
const encodePrompt = Schema.encodeUnknownEffect(Prompt.Prompt)
const fingerprint = (prompt: string) =>
  Effect.flatMap(Effect.orDie(encodePrompt(Prompt.make(prompt))), (encoded) =>
    sha256Hex(
      canonicalJson({
        method: "generateText",
        prompt: encoded as unknown as Schema.Json,
        tools: [],
        toolChoice: null,
        object: null
      })
    )
  )

/** Wall and process CPU (user + system, every thread) time per call, in microseconds. */
interface Timed {
  readonly wall: number
  readonly cpu: number
}

/** The `count` calls of a body of round `index`, one after another, timed. */
const calls = (index: number, count: number) =>
  Effect.gen(function* () {
    const cpu = process.cpuUsage()
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      const response = yield* LanguageModel.generateText({ prompt: promptOf(index, i) })
      if (response.text === "") return yield* Effect.die(new Error("no answer"))
    }
    const wall = performance.now() - start
    const used = process.cpuUsage(cpu)
    return { wall: (wall * 1000) / count, cpu: (used.user + used.system) / count } satisfies Timed
  })

interface Round {
  readonly bare: Timed
  readonly recorded: Timed
  readonly replay: Timed
  readonly getMiss: number
  readonly getHit: number
  readonly checkpoint: number
  readonly select: number | undefined
  readonly fingerprint: number
  /** Statements sent per recorded call (the server only). */
  readonly statements: number | undefined
}

type Stores = Layer.Success<typeof MemoryStore.layer>

/** One round of `n` calls on each side, then the floors, on the stores in context. */
const round = (index: number, n: number, counting: boolean) =>
  Effect.gen(function* () {
    const steps = yield* StepStore
    const tasks = yield* TaskStore
    const db = yield* Effect.serviceOption(Db)

    // bare: the scripted model given to the body, a runtime without the plugin
    let bareTimed: Timed | undefined
    const bareModel = yield* ScriptedModel.make(answer)
    const bareTask = task({ name: `bare-${index}`, input: Schema.Number }, (count) =>
      Effect.map(calls(index, count), (timed) => {
        bareTimed = timed
      }).pipe(Effect.provideService(LanguageModel.LanguageModel, bareModel.service))
    )
    const bareRuntime = yield* Runtime.make()
    const bare = bareRuntime.run(bareTask, n)

    // recorded, then replayed: the same calls under the plugin; the body pauses once at its end, and its second run
    // reads every answer from its record
    const runs: Array<Timed> = []
    let sentBefore = 0
    let sentDuring = 0
    let taskId = ""
    const recordedModel = yield* ScriptedModel.make(answer)
    const recordedTask = task({ name: `recorded-${index}`, input: Schema.Number }, (count) =>
      Effect.gen(function* () {
        if (runs.length === 0) sentBefore = sent
        runs.push(yield* calls(index, count))
        if (runs.length === 1) {
          sentDuring = sent - sentBefore
          yield* pause()
        }
      })
    )
    const recordedRuntime = yield* Runtime.make({ plugins: [StatePlugin.make(), ModelCalls.make()] }).pipe(
      Effect.provideService(LanguageModel.LanguageModel, recordedModel.service)
    )
    const recorded = Effect.gen(function* () {
      const handle = yield* recordedRuntime.submit(recordedTask, n)
      taskId = handle.id
      yield* handle.await
      const asked = (yield* recordedModel.requests).length
      // every call asked the model once, on the first run only
      if (asked !== n || runs.length !== 2) {
        return yield* Effect.die(new Error(`recorded round: ${asked} calls to the model, ${runs.length} runs`))
      }
    })

    if (index % 2 === 0) {
      yield* bare
      yield* recorded
    } else {
      yield* recorded
      yield* bare
    }

    // the floors, on the same store: the record a call wrote, written again under fresh keys of a claimed task
    const record = Option.getOrThrow(yield* steps.getStep(taskId, "model:0"))
    const floorId = `floor-${index}`
    const lease = { owner: "bench", expiresAt: Number.MAX_SAFE_INTEGER }
    const created = yield* tasks.create({ id: floorId, name: "floor", input: null, lease })
    const floors = yield* inTurns(n, {
      getMiss: (i) => steps.getStep(floorId, `model:${i}`),
      getHit: (i) => steps.getStep(taskId, `model:${i}`),
      checkpoint: (i) =>
        steps.checkpoint({ taskId: floorId, token: created.fencingToken, key: `model:${i}`, value: record }),
      fingerprint: (i) => fingerprint(promptOf(index, i)),
      // a raw round trip on the store's own client, where it has one (not the memory store)
      select: () => (Option.isSome(db) ? execute(db.value, "select", sql`select 1`) : Effect.void)
    })
    return {
      bare: bareTimed ?? { wall: NaN, cpu: NaN },
      recorded: runs[0] ?? { wall: NaN, cpu: NaN },
      replay: runs[1] ?? { wall: NaN, cpu: NaN },
      ...floors,
      select: Option.isSome(db) ? floors.select : undefined,
      statements: counting ? sentDuring / n : undefined
    } satisfies Round
  }).pipe(Effect.scoped)

const run = (name: string, layer: Layer.Layer<Stores, StoreError>, counting = false) =>
  Effect.gen(function* () {
    // one round unmeasured: the JIT, the statements' first plans
    yield* round(-1, WARMUP_CALLS, false)
    const rounds: Array<Round> = []
    for (let i = 0; i < ROUNDS; i++) rounds.push(yield* round(i, CALLS, counting))
    const of = (pick: (r: Round) => number | undefined) => median(rounds.map((r) => pick(r) ?? NaN))
    const write = of((r) => r.checkpoint)
    const getMiss = of((r) => r.getMiss)
    const getHit = of((r) => r.getHit)
    const select = of((r) => r.select)
    const fingerprinted = of((r) => r.fingerprint)
    // each round's overhead, then their median: the two sides of a round were measured in the same minutes
    const overhead = of((r) => r.recorded.wall - r.bare.wall)
    const replayOverhead = of((r) => r.replay.wall - r.bare.wall)
    const hasSelect = !Number.isNaN(select)
    const cell = (text: string, width: number) => text.padStart(width)
    const us = (x: number) => cell(x.toFixed(1), 10)
    const times = (x: number, to: number) => cell(`${(x / to).toFixed(2)}x`, 12)
    console.log(
      `${name}: ${CALLS} calls a round, ${ROUNDS} rounds in turns (medians), µs per call or operation ` +
        "(wall; cpu: the process's own CPU time)"
    )
    console.log(
      `  ${"".padEnd(26)}${cell("wall", 10)}${cell("cpu", 10)}${cell("- bare", 10)}${cell("cpu - bare", 12)}` +
        (hasSelect ? `${cell("/ write", 12)}${cell("/ get+write", 12)}${cell("/ SELECT 1", 12)}` : "")
    )
    const scenario = (label: string, pick: (r: Round) => Timed) => {
      const base = label.startsWith("bare")
      const over = of((r) => pick(r).wall - r.bare.wall)
      const cpuOver = of((r) => pick(r).cpu - r.bare.cpu)
      console.log(
        `  ${label.padEnd(26)}${us(of((r) => pick(r).wall))}${us(of((r) => pick(r).cpu))}${
          base
            ? ""
            : `${us(over)}${cell(cpuOver.toFixed(1), 12)}${
                hasSelect ? `${times(over, write)}${times(over, getMiss + write)}${times(over, select)}` : ""
              }`
        }`
      )
    }
    const floor = (label: string, value: number) => console.log(`  ${label.padEnd(26)}${us(value)}`)
    scenario("bare (scripted model)", (r) => r.bare)
    scenario("recorded (first run)", (r) => r.recorded)
    scenario("replay (from the record)", (r) => r.replay)
    console.log("  floors, in turns on the same store (wall):")
    floor("checkpoint write (fenced)", write)
    floor("getStep, missing key", getMiss)
    floor("getStep, recorded key", getHit)
    if (hasSelect) floor("SELECT 1 (raw)", select)
    floor("fingerprint (no store)", fingerprinted)
    const statements = of((r) => r.statements)
    if (!Number.isNaN(statements)) {
      console.log(`  statements sent per recorded call (background ones included): ${statements.toFixed(2)}`)
    }
    console.log(
      `  recorded - bare = ${overhead.toFixed(1)}: checkpoint ${write.toFixed(1)}` +
        ` + fingerprint ${fingerprinted.toFixed(1)} + the rest ${(overhead - write - fingerprinted).toFixed(1)}` +
        " (parts encoded, record checked, event, the run's one read over N calls)"
    )
    console.log(
      `  replay - bare = ${replayOverhead.toFixed(1)}: fingerprint ` +
        `${fingerprinted.toFixed(1)} + the rest ${(replayOverhead - fingerprinted).toFixed(1)} ` +
        "(record and parts decoded, less the model's call, which a replay does not make)"
    )
    if (hasSelect) {
      console.log(
        `  target: recorded - bare <= one round trip (the checkpoint write): ${
          overhead <= write ? "holds" : "does not hold"
        }, ${(overhead / write).toFixed(2)} writes; by round, in writes: ${rounds
          .map((r) => ((r.recorded.wall - r.bare.wall) / r.checkpoint).toFixed(2))
          .join(", ")}`
      )
    }
  }).pipe(Effect.provide(layer))

const program = Effect.gen(function* () {
  yield* run("memory store (no round trip: the plugin's own cost)", MemoryStore.layer)
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "waypoint-bench-"))),
    (d) => Effect.promise(() => rm(d, { recursive: true, force: true }))
  )
  yield* run("PGlite (temp folder)", Layer.provideMerge(PgStores.layer, PgliteDb.layer({ dataDir: join(dir, "data") })))
  const adminUrl = process.env.DATABASE_URL
  if (adminUrl === undefined || adminUrl === "") {
    console.log("Postgres: skipped (DATABASE_URL not set)")
    return
  }
  const url = yield* freshDatabase(adminUrl)
  yield* run(
    "Postgres (postgres.js -> server)",
    Layer.provideMerge(PgStores.layer, PostgresDb.layer({ url, connection: { debug: countSent } })),
    true
  )
}).pipe(Effect.scoped)

Effect.runPromise(program)
