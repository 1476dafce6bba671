/**
 * Durable model calls across real crashes: an agent of test/e2e/fixtures/modelAgent.ts (the `ModelCalls` plugin over
 * the scripted model, which prints a line each time it is really called) is SIGKILLed between two calls, or in the
 * middle of a stream, then a new process with the same runtime id does what the README's "After a crash" says
 * (`recover`, then `run` with the first run's idempotency key). Asserts on the lines printed and on the store: a
 * recorded call is never made again, the call a crash interrupted is made again (and only it), the task completes
 * with every answer, and the StepStore holds each call once (a stream as its joined text). On PGlite (a folder) and,
 * with DATABASE_URL, on a server (a fresh database per test).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { cp, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { ModelUsage, type UsageTotals } from "../../src/ai.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import type { StoreError } from "../../src/stores/errors.ts"
import { StepStore } from "../../src/stores/StepStore.ts"
import type { TaskRecord } from "../../src/stores/TaskRecord.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const AGENT = new URL("./fixtures/modelAgent.ts", import.meta.url).pathname
const RUNTIME_ID = "model-agent"
const KEY = "run"
// How long one life may take (start-up is 1-2 s here; the agent itself a few milliseconds).
const LIFE_TIMEOUT_MS = 30_000

interface Life {
  readonly lines: Array<string>
  readonly child: ChildProcess
  /** Resolves with the first line (printed already or to come) that `match` accepts, or `undefined` at the end. */
  readonly waitFor: (match: (line: string) => boolean) => Promise<string | undefined>
  readonly ended: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly stderr: () => string
  /** The lines and the end of stderr, for a failed assertion's message. */
  readonly context: () => string
}

/** Starts a life; one still running after `LIFE_TIMEOUT_MS` is killed (its test then fails on what it printed). */
const startLife = (args: ReadonlyArray<string>): Life => {
  const child = spawn(process.execPath, [AGENT, "--id", RUNTIME_ID, "--key", KEY, ...args], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  const waiters = new Set<{ readonly match: (line: string) => boolean; readonly resolve: (line: string) => void }>()
  let partial = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n")
    partial = parts.pop() ?? ""
    for (const line of parts) {
      lines.push(line)
      for (const waiter of waiters) if (waiter.match(line)) waiter.resolve(line)
    }
  })
  let stderr = ""
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const timer = setTimeout(() => child.kill("SIGKILL"), LIFE_TIMEOUT_MS)
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal })
    })
  )
  const waitFor = (match: (line: string) => boolean) => {
    const found = lines.find(match)
    if (found !== undefined) return Promise.resolve(found)
    return Promise.race([
      new Promise<string>((resolve) => {
        const waiter = {
          match,
          resolve: (line: string) => {
            waiters.delete(waiter)
            resolve(line)
          }
        }
        waiters.add(waiter)
      }),
      ended.then(() => lines.find(match))
    ])
  }
  return { lines, child, waitFor, ended, stderr: () => stderr, context: () => `${lines.join("\n")}\n${stderr}` }
}

/** How a life signs its lines. */
const runnerOf = (life: Life) => `${RUNTIME_ID}/${life.child.pid}`

/** The prompts the model was really called with, in order (`CALL <index> <prompt>`). */
const callsOf = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => {
    const match = /^CALL (\d+) (\S+)$/.exec(line)
    return match === null ? [] : [match[2]!]
  })

const deltasOf = (lines: ReadonlyArray<string>) =>
  lines.flatMap((line) => (line.startsWith("DELTA ") ? [line.slice("DELTA ".length)] : []))

const count = (items: ReadonlyArray<string>, item: string) => items.filter((i) => i === item).length

/** What a model call's record holds, as far as these tests read it. */
interface RecordedCall {
  readonly method: string
  readonly parts: ReadonlyArray<{ readonly type: string; readonly text?: string; readonly delta?: string }>
}

/** The agent's task (the one under the run's idempotency key), its recorded steps and its model usage. */
interface Stored {
  readonly tasks: ReadonlyArray<TaskRecord>
  readonly task: TaskRecord
  readonly steps: ReadonlyMap<string, unknown>
  readonly usage: UsageTotals
}

type Stores = Layer.Layer<TaskStore | StepStore, StoreError>

const readStore = (stores: Stores): Promise<Stored> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const all = (yield* (yield* TaskStore).list({ limit: 1000 })).items
      const found = all.filter((t) => t.idempotencyKey === KEY)
      assert.strictEqual(found.length, 1, `one task under the key: ${JSON.stringify(all)}`)
      const task = found[0]!
      const steps = yield* (yield* StepStore).listSteps(task.id)
      const usage = yield* ModelUsage.ofTask(task.id)
      return { tasks: all, task, steps, usage } satisfies Stored
    }).pipe(Effect.provide(stores))
  )

const recordedCall = (stored: Stored, key: string): RecordedCall => {
  assert.isTrue(stored.steps.has(key), `${key} is recorded: ${JSON.stringify([...stored.steps.keys()])}`)
  return stored.steps.get(key) as RecordedCall
}

const textsOf = (call: RecordedCall) => call.parts.flatMap((part) => (part.type === "text" ? [part.text] : []))

/** The `done <json>` line of a life, parsed. */
const outputOf = (life: Life): unknown => {
  const done = life.lines.find((line) => line.startsWith("done "))
  assert.isDefined(done, life.context())
  return JSON.parse(done!.slice("done ".length))
}

/**
 * Two calls: the first life is SIGKILLed (by the test) once the body has the answer of call 0 and sleeps in the step
 * before call 1; the second life recovers the task and completes it. Each prompt reaches the model exactly once.
 */
const killedBetweenCalls = async (storeArgs: ReadonlyArray<string>, stores: Stores) => {
  const args = [...storeArgs, "--scenario", "two-calls"]
  const first = startLife([...args, "--hold"])
  const held = await first.waitFor((line) => line === "RECORDED 0")
  if (held !== undefined) first.child.kill("SIGKILL")
  const end = await first.ended
  assert.isDefined(held, first.context())
  assert.strictEqual(end.signal, "SIGKILL", first.context())
  assert.deepStrictEqual(callsOf(first.lines), ["prompt-0"], first.context())
  assert.notInclude(first.lines, "RECORDED 1")

  const atKill = await readStore(stores)
  assert.strictEqual(atKill.task.status, "running", "left running by the killed life")
  assert.strictEqual(atKill.task.name, "two-calls")
  assert.deepStrictEqual(textsOf(recordedCall(atKill, "model:0")), ["answer to prompt-0"])
  assert.isFalse(atKill.steps.has("model:1"), "call 1 was not made")
  assert.isFalse(atKill.steps.has("step:between"), "the step between the calls never ended")

  const second = startLife(args)
  const ended = await second.ended
  assert.strictEqual(ended.code, 0, second.context())
  assert.include(second.lines, `recovered ${runnerOf(second)} ${atKill.task.id}`, "recover took the task back")
  assert.deepStrictEqual(callsOf(second.lines), ["prompt-1"], `call 0 answered from its record\n${second.context()}`)
  const calls = callsOf([...first.lines, ...second.lines])
  assert.strictEqual(count(calls, "prompt-0"), 1)
  assert.strictEqual(count(calls, "prompt-1"), 1)
  assert.deepStrictEqual(second.lines.slice(-4), [
    "RECORDED 0",
    "CALL 0 prompt-1",
    "RECORDED 1",
    'done ["answer to prompt-0","answer to prompt-1"]'
  ])

  const stored = await readStore(stores)
  assert.strictEqual(stored.tasks.length, 1, "one task, nothing else")
  assert.strictEqual(stored.task.id, atKill.task.id)
  assert.strictEqual(stored.task.status, "completed", JSON.stringify(stored.task))
  assert.deepStrictEqual(stored.task.output, ["answer to prompt-0", "answer to prompt-1"])
  assert.deepStrictEqual(outputOf(second), stored.task.output)
  for (const [key, text] of [
    ["model:0", "answer to prompt-0"],
    ["model:1", "answer to prompt-1"]
  ] as const) {
    const call = recordedCall(stored, key)
    assert.strictEqual(call.method, "generateText", key)
    assert.deepStrictEqual(textsOf(call), [text], key)
  }
  assert.strictEqual(stored.steps.get("step:between"), "went on", "the step ran again in the second life")
  assert.deepStrictEqual(
    [...stored.steps.keys()].filter((key) => key.startsWith("model:")).sort(),
    ["model:0", "model:1"],
    "each call recorded once"
  )
  assert.deepStrictEqual(
    [stored.usage.calls, stored.usage.inputTokens, stored.usage.outputTokens],
    [2, 30, 8],
    "usage: the two recorded calls"
  )
}

/**
 * A call, then a stream: the first life SIGKILLs itself when the body has the stream's 2nd delta; the second life
 * answers call 0 from its record and streams call 1 again, whole, which is then recorded with its deltas joined.
 */
const killedInStream = async (storeArgs: ReadonlyArray<string>, stores: Stores) => {
  const args = [...storeArgs, "--scenario", "stream"]
  const first = startLife([...args, "--crash-after-deltas", "2"])
  const end = await first.ended
  assert.strictEqual(end.signal, "SIGKILL", first.context())
  assert.include(first.lines, `crash stream by ${runnerOf(first)}`, first.context())
  assert.deepStrictEqual(callsOf(first.lines), ["prompt-0", "story"], first.context())
  assert.deepStrictEqual(deltasOf(first.lines), ["Once ", "upon "], "killed after the 2nd delta")

  const atKill = await readStore(stores)
  assert.strictEqual(atKill.task.status, "running", "left running by the killed life")
  assert.strictEqual(atKill.task.name, "stream")
  assert.deepStrictEqual(textsOf(recordedCall(atKill, "model:0")), ["answer to prompt-0"])
  assert.isFalse(atKill.steps.has("model:1"), "a stream is recorded only at its end")

  const second = startLife(args)
  const ended = await second.ended
  assert.strictEqual(ended.code, 0, second.context())
  assert.include(second.lines, `recovered ${runnerOf(second)} ${atKill.task.id}`, "recover took the task back")
  assert.deepStrictEqual(callsOf(second.lines), ["story"], `only the interrupted call again\n${second.context()}`)
  const calls = callsOf([...first.lines, ...second.lines])
  assert.strictEqual(count(calls, "prompt-0"), 1, "call 0 made once")
  assert.strictEqual(count(calls, "story"), 2, "call 1 made in each life")
  assert.deepStrictEqual(deltasOf(second.lines), ["Once ", "upon ", "a ", "time"], "the stream again, whole")
  assert.deepStrictEqual(outputOf(second), ["answer to prompt-0", "Once upon a time"])

  const stored = await readStore(stores)
  assert.strictEqual(stored.tasks.length, 1, "one task, nothing else")
  assert.strictEqual(stored.task.status, "completed", JSON.stringify(stored.task))
  assert.deepStrictEqual(stored.task.output, ["answer to prompt-0", "Once upon a time"])
  const streamedCall = recordedCall(stored, "model:1")
  assert.strictEqual(streamedCall.method, "streamText")
  const deltas = streamedCall.parts.filter((part) => part.type === "text-delta")
  assert.deepStrictEqual(
    deltas.map((part) => part.delta),
    ["Once upon a time"],
    `one text-delta part, the deltas joined: ${JSON.stringify(streamedCall.parts)}`
  )
  assert.deepStrictEqual(
    [...stored.steps.keys()].filter((key) => key.startsWith("model:")).sort(),
    ["model:0", "model:1"],
    "each call recorded once"
  )
  assert.deepStrictEqual(
    [stored.usage.calls, stored.usage.inputTokens, stored.usage.outputTokens],
    [2, 15, 12],
    "usage: the recorded calls; the killed stream's is not counted"
  )
}

// A migrated PGlite folder to copy for each test: opening a copy skips initdb (3-5 s).
let template: string | undefined
const withPgliteFolder = async (body: (dataDir: string) => Promise<void>) => {
  const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-models-"))
  const dataDir = join(dir, "data")
  await cp(template!, dataDir, { recursive: true })
  try {
    await body(dataDir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const adminUrl = process.env.DATABASE_URL

/** A fresh server database for one test, migrated, dropped after it. */
const withDatabase = async (body: (url: string) => Promise<void>) => {
  const url = await Effect.runPromise(TestDatabase.create(adminUrl!))
  try {
    await Effect.runPromise(Effect.scoped(Layer.build(PostgresStore.layer({ url }))))
    await body(url)
  } finally {
    await Effect.runPromise(TestDatabase.drop(adminUrl!, url))
  }
}

const scenarios = [
  {
    name: "SIGKILLed between two calls, then recovered: each prompt reaches the model once, both answers returned",
    run: killedBetweenCalls
  },
  {
    name: "SIGKILLed in the middle of a stream, then recovered: only the stream is made again, recorded joined",
    run: killedInStream
  }
] as const

describe("model calls across crashes: pglite", () => {
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "waypoint-e2e-models-template-"))
    await Effect.runPromise(Effect.scoped(Layer.build(PgliteStore.layer({ dataDir: join(dir, "data") }))))
    template = join(dir, "data")
  }, 60_000)
  afterAll(async () => {
    if (template !== undefined) await rm(join(template, ".."), { recursive: true, force: true })
  })

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      await withPgliteFolder((dataDir) => scenario.run(["--data-dir", dataDir], PgliteStore.layer({ dataDir })))
    }, 120_000)
  }
})

describe.skipIf(TestDatabase.noServer)("model calls across crashes: postgres: needs DATABASE_URL", () => {
  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      await withDatabase((url) => scenario.run(["--url", url], PostgresStore.layer({ url })))
    }, 120_000)
  }
})
