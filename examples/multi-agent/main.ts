/**
 * A supervisor and its research agents as one durable run tree: the supervisor fans out one researcher per topic (a
 * researcher may start a sub-researcher), waits for a human's approval, then a writer joins the notes. The agents
 * call a model (a scripted one offline, or an OpenAI-compatible endpoint: see `--help`). Kill it in the middle
 * (`--crash-after 4`) and run it again: the tree resumes, no step an agent finished runs again, and no model call
 * that was answered is made again. It ends with what the run's model calls used. See `--help`.
 */
import { rm } from "node:fs/promises"
import { parseArgs } from "node:util"
import { Effect, Layer, Option, Schema } from "effect"
import { ModelCalls, ModelUsage } from "../../src/ai.ts"
import { ProgressPlugin, RunTree, Runtime, StateManager, StatePlugin, TreeCheckpoints } from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import { makeAgents } from "./agents.ts"
import { makeDisplay } from "./display.ts"
import * as Model from "./model.ts"

const USAGE = `Usage: npm run example:agents -- [options]

A supervisor fans out research agents, waits for your approval, then a writer joins their notes into a report. The
run is durable: killed at any point, it resumes where it stopped when you run the command again.

Options:
  --topics <list>      comma-separated topics; a topic ending in + also gets a sub-researcher
                       (default tides,reefs+,storms)
  --steps <n>          steps per researcher (1-20, default 3)
  --step-ms <ms>       simulated work per step in milliseconds (default 300)
  --approve            approve the report (the run waits for this; give it now or in a later command)
  --crash-after <n>    SIGKILL this process once n agent steps are recorded (0 = never, default 0)
  --trace-model        print each model call the agents really make, and when its answer is recorded
                       (a call answered from its record, after a crash say, prints nothing)
  --store <kind>       pglite (default) or postgres (uses DATABASE_URL)
  --data-dir <dir>     folder of the embedded PGlite store (default .waypoint-agents)
  --reset              forget the stored run and start over
  --fork <checkpoint>  start a new run from a checkpoint of this one (kept when it first waits for approval:
                       after-research); agents that had completed are not run again
  --replace <path>=<json>
                       with --fork: run the agent at this key path again with a new input, e.g.
                       'supervisor/reefs={"topic":"kelp","steps":2,"deep":false}' (repeatable)
  -h, --help           show this help

DATABASE_URL set and no --store: the postgres store is used.

The agents call a scripted model, offline, unless these are set:
  WAYPOINT_MODEL_BASE_URL  an OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1 (llama.cpp, Ollama,
                           vLLM, LM Studio) or https://api.openai.com/v1
  WAYPOINT_MODEL           the model to call there (needed with WAYPOINT_MODEL_BASE_URL)
  WAYPOINT_MODEL_API_KEY   its API key, if it needs one
Answers a run recorded are kept when these change: only calls not yet answered go to the new model.`

/** A bad command line: the message and exit code 2. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {}

/** A request the stored run cannot take (a fork of a checkpoint it lacks, or of a path it has not): exit code 2. */
class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String }) {}

interface Options {
  readonly topics: ReadonlyArray<string>
  readonly steps: number
  readonly stepMs: number
  readonly approve: boolean
  readonly crashAfter: number
  readonly traceModel: boolean
  readonly model: Model.ModelChoice
  readonly store: "pglite" | "postgres"
  readonly dataDir: string
  readonly reset: boolean
  readonly fork: string | undefined
  readonly replace: Readonly<Record<string, Schema.Json>>
}

const integer = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
  if (raw === undefined) return Effect.succeed(fallback)
  const value = Number(raw)
  return Number.isInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.fail(new UsageError({ reason: `--${name} must be a whole number from ${min} to ${max}, got "${raw}"` }))
}

const parseOptions = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const parsed = yield* Effect.try({
      try: () =>
        parseArgs({
          args: [...argv],
          strict: true,
          allowPositionals: false,
          options: {
            topics: { type: "string" },
            steps: { type: "string" },
            "step-ms": { type: "string" },
            approve: { type: "boolean" },
            "crash-after": { type: "string" },
            "trace-model": { type: "boolean" },
            store: { type: "string" },
            "data-dir": { type: "string" },
            reset: { type: "boolean" },
            fork: { type: "string" },
            replace: { type: "string", multiple: true },
            help: { type: "boolean", short: "h" }
          }
        }).values,
      catch: (error) => new UsageError({ reason: error instanceof Error ? error.message : String(error) })
    })
    if (parsed.help === true) return Option.none<Options>()
    const store = parsed.store ?? (process.env.DATABASE_URL ? "postgres" : "pglite")
    if (store !== "pglite" && store !== "postgres") {
      return yield* new UsageError({ reason: `--store must be pglite or postgres, got "${store}"` })
    }
    if (store === "postgres" && !process.env.DATABASE_URL) {
      return yield* new UsageError({ reason: "--store postgres needs DATABASE_URL" })
    }
    const topics = (parsed.topics ?? "tides,reefs+,storms").split(",").map((topic) => topic.trim())
    if (topics.some((topic) => !/^[a-z0-9-]{1,40}\+?$/.test(topic)) || new Set(topics).size !== topics.length) {
      return yield* new UsageError({
        reason: `--topics must be distinct words of a-z, 0-9 and -, each maybe ending in +, got "${parsed.topics}"`
      })
    }
    const replace: Record<string, Schema.Json> = {}
    for (const entry of parsed.replace ?? []) {
      const at = entry.indexOf("=")
      if (at <= 0) return yield* new UsageError({ reason: `--replace must be <path>=<json>, got "${entry}"` })
      const input = parseJson(entry.slice(at + 1))
      if (input === undefined) {
        return yield* new UsageError({
          reason: `--replace ${entry.slice(0, at)}: "${entry.slice(at + 1)}" is not JSON`
        })
      }
      replace[entry.slice(0, at)] = input
    }
    if (Object.keys(replace).length > 0 && parsed.fork === undefined) {
      return yield* new UsageError({ reason: "--replace goes with --fork" })
    }
    const stepMs = yield* integer("step-ms", parsed["step-ms"], 300, 0, 60_000)
    return Option.some<Options>({
      topics,
      steps: yield* integer("steps", parsed.steps, 3, 1, 20),
      stepMs,
      approve: parsed.approve === true,
      crashAfter: yield* integer("crash-after", parsed["crash-after"], 0, 0, 1000),
      traceModel: parsed["trace-model"] === true,
      model: yield* modelChoice(stepMs),
      store,
      dataDir: parsed["data-dir"] ?? ".waypoint-agents",
      reset: parsed.reset === true,
      fork: parsed.fork,
      replace
    })
  })

/** The model the environment names: an OpenAI-compatible endpoint, or the scripted model (at the pace of a step). */
const modelChoice = (stepMs: number) => {
  const baseUrl = process.env.WAYPOINT_MODEL_BASE_URL
  const model = process.env.WAYPOINT_MODEL
  const apiKey = process.env.WAYPOINT_MODEL_API_KEY
  if (!baseUrl) {
    return model
      ? Effect.fail(new UsageError({ reason: "WAYPOINT_MODEL is set: WAYPOINT_MODEL_BASE_URL must name its endpoint" }))
      : Effect.succeed<Model.ModelChoice>({ _tag: "Scripted", latencyMs: stepMs })
  }
  if (!model) {
    return Effect.fail(new UsageError({ reason: "WAYPOINT_MODEL_BASE_URL is set: WAYPOINT_MODEL must name the model" }))
  }
  return Effect.succeed<Model.ModelChoice>({ _tag: "OpenAiCompat", baseUrl, model, apiKey: apiKey || undefined })
}

const parseJson = (text: string): Schema.Json | undefined => {
  try {
    return JSON.parse(text) as Schema.Json
  } catch {
    return undefined
  }
}

// The checkpoint kept when a run first waits for approval: the point to fork from.
const CHECKPOINT = "after-research"

// The runtime keeps one identity across restarts, so it takes back the agents it was running at once.
const RUNTIME_ID = "multi-agent-example"

const storesLayer = (options: Options) =>
  options.store === "pglite"
    ? PgliteStore.layer({ dataDir: options.dataDir })
    : PostgresStore.layer({ url: process.env.DATABASE_URL ?? "" })

const program = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const parsed = yield* parseOptions(argv)
    const display = makeDisplay(process.stdout)
    if (Option.isNone(parsed)) return yield* display.log(USAGE)
    const options = parsed.value
    // the model first: an endpoint that cannot be used stops the command before anything is stored
    const model = yield* Layer.build(Model.layer(options.model))
    yield* display.log(`model: ${Model.describe(options.model)}`)
    if (options.reset && options.store === "pglite") {
      yield* Effect.promise(() => rm(options.dataDir, { recursive: true, force: true }))
    }
    yield* Layer.build(storesLayer(options)).pipe(
      Effect.flatMap((context) =>
        run(options, display).pipe(
          Effect.provide(StateManager.layer()),
          Effect.provideContext(context),
          Effect.provideContext(model)
        )
      )
    )
  }).pipe(Effect.scoped)

/** Resumes the stored run (or starts one), drives it here, and shows its tree until it ends or waits for approval. */
const run = (options: Options, display: ReturnType<typeof makeDisplay>) =>
  Effect.gen(function* () {
    let recorded = 0
    const { supervisor, tasks } = makeAgents({
      stepMs: options.stepMs,
      onStep: (event, agent, i) =>
        Effect.gen(function* () {
          yield* display.log(`${agent} step ${i} ${event}`)
          if (event === "recorded" && ++recorded === options.crashAfter) {
            yield* display.log(`crashing on purpose after ${recorded} steps`)
            process.kill(process.pid, "SIGKILL")
          }
        }),
      onModelCall: (event, agent, i) =>
        options.traceModel ? display.log(`${agent} model call ${i} ${event}`) : Effect.void
    })
    const runtime = yield* Runtime.make({
      id: RUNTIME_ID,
      plugins: [
        StatePlugin.make(),
        ProgressPlugin.make({ flushInterval: "100 millis" }),
        // every model call of a task is recorded once and answered from its record when the body runs again
        ModelCalls.make({
          prices: Model.prices,
          provider: options.model._tag === "Scripted" ? "scripted" : "openai-compat"
        })
      ],
      tasks,
      worker: { concurrency: 16, pollInterval: "200 millis" }
    })
    yield* runtime.recover
    const runs = yield* runtime.list({ name: supervisor.name, limit: 1000 })
    let root = runs.items.filter((task) => task.status !== "cancelled").at(-1)
    if (root !== undefined && options.reset) {
      yield* runtime.cancel(root.id)
      root = undefined
    }
    if (root === undefined) {
      const handle = yield* runtime.submit(supervisor, { topics: options.topics, steps: options.steps })
      yield* display.log(`starting run ${handle.id}: ${options.topics.join(", ")}`)
      root = yield* runtime.get(handle.id)
    } else {
      const plan = root.input as { readonly topics: ReadonlyArray<string>; readonly steps: number }
      yield* display.log(`resuming run ${root.id} (--reset starts a new run)`)
      if (plan.topics.join() !== options.topics.join() || plan.steps !== options.steps) {
        yield* display.log("(the run keeps the topics and steps it started with; --topics and --steps are not used)")
      }
    }
    if (options.fork !== undefined) {
      const from = root.id
      const kept = (yield* TreeCheckpoints.list(from)).filter((checkpoint) => checkpoint.name === options.fork).at(-1)
      if (kept === undefined) {
        return yield* new Refused({
          reason: `run ${from} has no checkpoint "${options.fork}" (it keeps ${CHECKPOINT})`
        })
      }
      const forked = yield* Effect.catchTag(
        TreeCheckpoints.fork(kept.id, { replace: options.replace }),
        "ForkInvalid",
        (error) => Effect.fail(new Refused({ reason: error.message }))
      )
      // a fork of a finished run with nothing replaced is finished already
      if ((yield* runtime.get(forked)).status !== "completed") yield* runtime.resume(forked)
      yield* display.log(`forked run ${forked} from checkpoint ${options.fork} of run ${from}`)
      root = yield* runtime.get(forked)
    }
    const rootId = root.id
    let isCheckpointKept = (yield* TreeCheckpoints.list(rootId)).some((checkpoint) => checkpoint.name === CHECKPOINT)
    if (options.approve && root.status !== "completed") {
      yield* runtime.signal(rootId, "approval", { approved: true, by: "you" })
      yield* display.log("approval sent")
    }
    // The worker drives the tree; this shows it, until the run ends or waits for an approval nobody gave.
    while (true) {
      const tree = yield* RunTree.read(rootId)
      yield* display.render(tree)
      const top = tree.nodes[0] as RunTree.RunTreeNode
      if (top.status === "completed") {
        yield* display.done()
        yield* display.log(`report:\n${String(top.output)}`)
        return yield* showUsage(rootId, display)
      }
      if (top.status === "failed" || top.status === "cancelled") {
        yield* display.done()
        yield* showUsage(rootId, display)
        return yield* Effect.fail(new Error(`the run ${top.status}: ${top.error?.message ?? ""}`))
      }
      if (top.suspendReason?._tag === "WaitingForSignal" && !isCheckpointKept) {
        yield* TreeCheckpoints.checkpoint(rootId, CHECKPOINT)
        isCheckpointKept = true
        yield* display.log(`checkpoint ${CHECKPOINT} kept: --fork ${CHECKPOINT} starts a new run from here`)
      }
      if (top.suspendReason?._tag === "WaitingForSignal" && !options.approve) {
        yield* display.done()
        yield* showUsage(rootId, display)
        return yield* display.log("waiting for approval: run this command again with --approve")
      }
      yield* Effect.sleep("100 millis")
    }
  })

/** What the run's model calls used so far: every recorded call of the tree, each counted once. */
const showUsage = (rootId: string, display: ReturnType<typeof makeDisplay>) =>
  Effect.gen(function* () {
    const usage = yield* ModelUsage.ofTree(rootId)
    if (Option.isNone(usage)) return
    const { calls, inputTokens, outputTokens, cost } = usage.value.total
    yield* display.log(`usage: ${calls} calls, ${inputTokens} in, ${outputTokens} out tokens, $${cost.toFixed(4)}`)
  })

// `deno task example:agents -- ...` passes the `--` on; `npm run example:agents -- ...` does not.
const argv = process.argv.slice(2)
Effect.runPromiseExit(program(argv[0] === "--" ? argv.slice(1) : argv)).then((exit) => {
  if (exit._tag === "Success") return
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure?._tag === "Fail" && failure.error instanceof UsageError) {
    process.stderr.write(`${failure.error.reason}\n\n${USAGE}\n`)
    process.exit(2)
  }
  if (failure?._tag === "Fail" && failure.error instanceof Refused) {
    process.stderr.write(`${failure.error.reason}\n`)
    process.exit(2)
  }
  if (failure?._tag === "Fail" && failure.error instanceof Model.ModelUnavailable) {
    process.stderr.write(`the model cannot be used: ${failure.error.reason}\n`)
    process.exit(1)
  }
  process.stderr.write(`${String(exit.cause)}\n`)
  process.exit(1)
})
