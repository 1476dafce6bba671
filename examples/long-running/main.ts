/**
 * A task of N steps that keeps state, saves a snapshot and reports progress after each step, and survives its
 * process being killed: run it with `--crash-after 2`, it dies right after step 2 is committed; run it again and
 * it resumes at step 3. See `--help`.
 */
import { parseArgs } from "node:util"
import { Deferred, Effect, Fiber, Layer, Option, Schema, Stream } from "effect"
import {
  MemoryStore,
  Progress,
  ProgressPlugin,
  Runtime,
  SnapshotPlugin,
  SnapshotStore,
  Snapshots,
  StatePlugin,
  step,
  type TaskEvent,
  TaskState,
  task
} from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"

const USAGE = `Usage: npm run example -- [options]

Runs a task of N steps that checkpoints after each one. Killed part-way, it resumes where it stopped.

Options:
  --num-steps <n>     steps to run (1-1000, default 5)
  --crash-after <k>   kill this process right after step k is committed (0 = never, default 0)
  --step-ms <ms>      simulated work per step in milliseconds (default 200)
  --store <kind>      pglite (default), memory, or postgres (uses DATABASE_URL)
  --data-dir <dir>    folder of the embedded PGlite store (default .waypoint)
  --reset             forget the stored task and start over
  -h, --help          show this help

With --store memory the crash is simulated inside one process: the runtime is shut down after step k and a new
runtime resumes the task. DATABASE_URL set and no --store: the postgres store is used.`

/** A bad command line: the message and exit code 2. */
class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {}

interface Options {
  readonly numSteps: number
  readonly crashAfter: number
  readonly stepMs: number
  readonly store: "pglite" | "memory" | "postgres"
  readonly dataDir: string
  readonly reset: boolean
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
            "num-steps": { type: "string" },
            "crash-after": { type: "string" },
            "step-ms": { type: "string" },
            store: { type: "string" },
            "data-dir": { type: "string" },
            reset: { type: "boolean" },
            help: { type: "boolean", short: "h" }
          }
        }).values,
      catch: (error) => new UsageError({ reason: error instanceof Error ? error.message : String(error) })
    })
    if (parsed.help === true) return Option.none<Options>()
    const store = parsed.store ?? (process.env.DATABASE_URL ? "postgres" : "pglite")
    if (store !== "pglite" && store !== "memory" && store !== "postgres") {
      return yield* new UsageError({ reason: `--store must be pglite, memory or postgres, got "${store}"` })
    }
    if (store === "postgres" && !process.env.DATABASE_URL) {
      return yield* new UsageError({ reason: "--store postgres needs DATABASE_URL" })
    }
    const numSteps = yield* integer("num-steps", parsed["num-steps"], 5, 1, 1000)
    const crashAfter = yield* integer("crash-after", parsed["crash-after"], 0, 0, numSteps)
    const stepMs = yield* integer("step-ms", parsed["step-ms"], 200, 0, 60_000)
    return Option.some<Options>({
      numSteps,
      crashAfter,
      stepMs,
      store,
      dataDir: parsed["data-dir"] ?? ".waypoint",
      reset: parsed.reset === true
    })
  })

// The runtime keeps one identity across restarts, so it takes back its own unfinished task at once.
const RUNTIME_ID = "long-running-example"
const TASK_NAME = "long-running"

const Results = Schema.Struct({ lastStep: Schema.Int, results: Schema.Array(Schema.String) })

/**
 * What the example prints. On a terminal, the task's progress bar is one line kept below the log lines, redrawn as
 * progress events arrive and cleared before each log line, so a line never overwrites part of the bar. In a pipe,
 * log lines only.
 */
const display = (() => {
  const stdout = process.stdout
  let barLine: string | undefined
  const erase = () => {
    if (barLine !== undefined) stdout.write("\r\u001b[2K")
  }
  return {
    log: (line: string) =>
      Effect.sync(() => {
        erase()
        stdout.write(`${line}\n`)
        if (barLine !== undefined) stdout.write(barLine)
      }),
    progress: (percent: number, message: string) =>
      Effect.sync(() => {
        if (!stdout.isTTY) return
        const width = 30
        const filled = Math.round((percent / 100) * width)
        const line = `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${Math.round(percent)}% ${message}`
        erase()
        barLine = line.slice(0, Math.max(20, (stdout.columns || 80) - 1))
        stdout.write(barLine)
      }),
    /** Leaves the bar as drawn last; what follows starts on the next line. */
    done: Effect.sync(() => {
      if (barLine !== undefined) stdout.write("\n")
      barLine = undefined
    })
  }
})()
const out = display.log

/**
 * The task. A step's work runs once: `step` records its result together with the state key `lastStep`, in one
 * store operation, so after a crash either both are stored or neither. Then a snapshot is saved, progress
 * reported (the main program draws the bar from the task's events), and `step <i>/<n> done` printed; a step
 * already recorded is never run or printed again.
 */
const makeTask = (options: Options, crash: Effect.Effect<void>) =>
  task({ name: TASK_NAME, input: Schema.Struct({ numSteps: Schema.Int }), output: Results }, ({ numSteps }) =>
    Effect.gen(function* () {
      const state = yield* TaskState
      const snapshots = (yield* Snapshots).typed(Results)
      const progress = yield* Progress
      const committed = Number(yield* state.getOr("lastStep", 0))
      const results: Array<string> = []
      for (let i = 1; i <= numSteps; i++) {
        const work = out(`step ${i}/${numSteps} started`).pipe(
          Effect.andThen(Effect.sleep(options.stepMs)),
          Effect.as(`result of step ${i}`)
        )
        // The step's result and `lastStep` are written together, in one store operation.
        results.push(yield* step(`step-${i}`, work, { state: () => ({ lastStep: i }) }))
        if (i <= committed) continue
        yield* snapshots.save({ lastStep: i, results: [...results] }, { checkpoint: i === numSteps })
        yield* progress.update((i / numSteps) * 100, `step ${i}/${numSteps}`)
        yield* out(`step ${i}/${numSteps} done`)
        if (i === options.crashAfter) yield* crash
      }
      return { lastStep: numSteps, results }
    })
  )

const storesLayer = (options: Options) => {
  switch (options.store) {
    case "memory":
      return MemoryStore.layer
    case "pglite":
      return PgliteStore.layer({ dataDir: options.dataDir })
    case "postgres":
      return PostgresStore.layer({ url: process.env.DATABASE_URL ?? "" })
  }
}

/** One life of the process (with the memory store: of a runtime): resume or start the task, wait for its end. */
const life = (options: Options, crash: Effect.Effect<void>) =>
  Effect.gen(function* () {
    const longRunning = makeTask(options, crash)
    const plugins = [StatePlugin.make(), SnapshotPlugin.make(), ProgressPlugin.make()] as const
    const runtime = yield* Runtime.make({ id: RUNTIME_ID, plugins, tasks: [longRunning] })
    const recovered = yield* runtime.recover
    const page = yield* runtime.list({ name: TASK_NAME, limit: 1000 })
    const latest = page.items.filter((t) => t.status !== "cancelled").at(-1)
    if (latest !== undefined && options.reset && latest.status !== "completed") yield* runtime.cancel(latest.id)
    if (latest !== undefined && !options.reset && latest.status === "completed") {
      yield* out(`task ${latest.id} has already completed; --reset runs it again`)
      return latest.output
    }
    let handle: {
      readonly id: string
      readonly await: Effect.Effect<unknown, unknown>
      readonly events: Stream.Stream<TaskEvent, unknown>
    }
    if (latest !== undefined && !options.reset && latest.status !== "failed") {
      const snapshots = yield* SnapshotStore
      const last = yield* snapshots.latest(latest.id)
      const lastStep = Option.match(last, {
        onNone: () => 0,
        onSome: (s) => Number((s.data as { lastStep?: number }).lastStep ?? 0)
      })
      yield* out(`resuming task ${latest.id} after step ${lastStep}`)
      if (!recovered.includes(latest.id)) yield* runtime.resume(latest.id)
      handle = runtime.handle(longRunning, latest.id)
    } else {
      handle = yield* runtime.submit(longRunning, { numSteps: options.numSteps })
      yield* out(`starting task ${handle.id} with ${options.numSteps} steps`)
    }
    // The bar belongs to whoever follows the task's events: here, this main program.
    yield* handle.events.pipe(
      Stream.runForEach((event) =>
        event._tag === "ProgressReported" ? display.progress(event.percent, event.message) : Effect.void
      ),
      Effect.ignore,
      Effect.forkScoped
    )
    return yield* handle.await.pipe(Effect.ensuring(display.done))
  })

const program = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const parsed = yield* parseOptions(argv)
    if (Option.isNone(parsed)) return yield* out(USAGE)
    const options = parsed.value
    if (options.reset && options.store === "pglite") {
      yield* Effect.promise(() =>
        import("node:fs/promises").then((fs) => fs.rm(options.dataDir, { recursive: true, force: true }))
      )
    }
    const context = yield* Layer.build(storesLayer(options))
    let output: unknown
    if (options.store === "memory" && options.crashAfter > 0) {
      // Simulated crash: the first runtime is shut down right after the checkpoint; a second one resumes.
      const crashed = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(
        Effect.scoped(life(options, Effect.andThen(Deferred.succeed(crashed, undefined), Effect.never))).pipe(
          Effect.provideContext(context)
        )
      )
      yield* Deferred.await(crashed)
      yield* Fiber.interrupt(first)
      yield* out(`(simulated crash after step ${options.crashAfter}: the runtime was shut down)`)
      output = yield* Effect.scoped(life({ ...options, crashAfter: 0 }, Effect.void)).pipe(
        Effect.provideContext(context)
      )
    } else {
      // The bar is left on its own line first, so the message does not run on from it.
      const crash = Effect.andThen(
        display.done,
        Effect.sync(() => {
          process.stderr.write(`crashing on purpose after step ${options.crashAfter}\n`)
          process.exit(3)
        })
      )
      output = yield* Effect.scoped(life(options, crash)).pipe(Effect.provideContext(context))
    }
    const final = yield* Schema.decodeUnknownEffect(Results)(output)
    yield* out(`completed: ${final.lastStep} steps`)
    yield* out(`final state: ${JSON.stringify(final)}`)
  }).pipe(Effect.scoped)

// `deno task example -- ...` passes the `--` on; `npm run example -- ...` does not.
const argv = process.argv.slice(2)
Effect.runPromiseExit(program(argv[0] === "--" ? argv.slice(1) : argv)).then((exit) => {
  if (exit._tag === "Success") return
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure?._tag === "Fail" && failure.error instanceof UsageError) {
    process.stderr.write(`${failure.error.reason}\n\n${USAGE}\n`)
    process.exit(2)
  }
  process.stderr.write(`${String(exit.cause)}\n`)
  process.exit(1)
})
