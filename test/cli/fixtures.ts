/**
 * What the command-line tests share: tasks left in every state a command shows (completed with progress and log
 * lines, failed, waiting for a signal, paused, a supervisor with two children), written into a store by the library
 * in the test process, and the CLI run as a real process over that store.
 */
import { spawn } from "node:child_process"
import { Effect, type Layer, Schema } from "effect"
import {
  Children,
  Progress,
  ProgressPlugin,
  Runtime,
  SnapshotStore,
  StateManager,
  StatePlugin,
  type TaskRecord,
  TreeCheckpoints,
  task,
  waitForSignal
} from "../../src/index.ts"
import type { Stores } from "../../src/stores/postgres/PgStores.ts"

const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname
const ROOT = new URL("../../", import.meta.url).pathname
const DENO = new URL("../../node_modules/.bin/deno", import.meta.url).pathname

export const greet = task({ name: "greet", input: Schema.String, output: Schema.String }, (name) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    yield* progress.log(`hello ${name}`)
    yield* progress.update(50, "halfway")
    yield* progress.log("almost there", "warning")
    yield* progress.update(100, "done")
    return `hi ${name}`
  })
)

export const boom = task({ name: "boom", input: Schema.Number }, (n) => Effect.fail(`exploded at ${n}`))

export const approval = task({ name: "approval", input: Schema.Struct({ amount: Schema.Number }) }, () =>
  Effect.asVoid(waitForSignal("approve", Schema.Struct({ approved: Schema.Boolean })))
)

/** Logs, waits for the signal "go", logs again and completes: followed live while it waits. */
export const live = task({ name: "live", input: Schema.Null, output: Schema.String }, () =>
  Effect.gen(function* () {
    const progress = yield* Progress
    yield* progress.log("waiting for go")
    yield* progress.update(10, "waiting")
    const { note } = yield* waitForSignal("go", Schema.Struct({ note: Schema.String }))
    yield* progress.log(`got go: ${note}`)
    yield* progress.update(100, "finished")
    return note
  })
)

/** Runs until paused from outside (`runtime.pause`), then stays `suspended` (Paused). */
export const nap = task({ name: "nap", input: Schema.Null }, () => Effect.never)

export const researcher = task({ name: "researcher", input: Schema.String, output: Schema.String }, (topic) =>
  Effect.succeed(`notes on ${topic}`)
)

export const supervisor = task(
  { name: "supervisor", input: Schema.Array(Schema.String), output: Schema.Array(Schema.String) },
  (topics) => Children.all(topics.map((topic) => Children.spec(researcher, topic, { key: topic })))
)

/** The ids of the tasks `seed` left, and the checkpoint it took of the supervisor's run. */
export interface Seeded {
  readonly checkpoint: string
  readonly greet: string
  readonly boom: string
  readonly approval: string
  readonly nap: string
  readonly supervisor: string
}

/** A runtime with the plugins the seeded tasks use, over the stores in context. */
export const makeRuntime = Runtime.make({
  plugins: [StatePlugin.make(), ProgressPlugin.make({ flushInterval: "10 millis" })],
  tasks: [greet, boom, approval, nap, researcher, supervisor, live],
  pollInterval: "50 millis"
})

const until = (runtime: Effect.Success<typeof makeRuntime>, id: string, done: (record: TaskRecord) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 400; i++) {
      const record = yield* runtime.get(id)
      if (done(record)) return record
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`task ${id} never reached the state the test waits for`))
  })

/** Runs one task of each kind to where it stays, in the stores `layer` opens (and closes at the end). */
export const seed = (layer: Layer.Layer<Stores, unknown>): Effect.Effect<Seeded, unknown> =>
  Effect.scoped(
    Effect.gen(function* () {
      const runtime = yield* makeRuntime
      const greetHandle = yield* runtime.submit(greet, "Ada", { session: "s1" })
      const boomHandle = yield* runtime.submit(boom, 7)
      const approvalHandle = yield* runtime.submit(approval, { amount: 10 }, { session: "s1" })
      const napHandle = yield* runtime.submit(nap, null)
      const supervisorHandle = yield* runtime.submit(supervisor, ["ships", "maps"])
      yield* Effect.exit(greetHandle.await)
      yield* Effect.exit(boomHandle.await)
      yield* Effect.exit(supervisorHandle.await)
      yield* until(runtime, approvalHandle.id, (record) => record.status === "suspended")
      yield* until(runtime, napHandle.id, (record) => record.status === "running")
      yield* runtime.pause(napHandle.id)
      yield* until(runtime, napHandle.id, (record) => record.status === "suspended")
      // two snapshots of greet's, as the snapshot plugin would save them, and a checkpoint of the supervisor's run
      const snapshots = yield* SnapshotStore
      yield* snapshots.save({ taskId: greetHandle.id, data: { step: 1, notes: ["a"], draft: "x" }, checkpoint: false })
      yield* snapshots.save({ taskId: greetHandle.id, data: { step: 2, notes: ["a", "b"] }, checkpoint: true })
      const checkpoint = yield* TreeCheckpoints.checkpoint(supervisorHandle.id, "planned").pipe(
        Effect.provide(StateManager.layer())
      )
      return {
        checkpoint,
        greet: greetHandle.id,
        boom: boomHandle.id,
        approval: approvalHandle.id,
        nap: napHandle.id,
        supervisor: supervisorHandle.id
      }
    }).pipe(Effect.provide(layer))
  )

/** What a run of the CLI printed, and how it ended. */
export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Runs `waypoint <args>` as a process of its own (`node src/cli/main.ts`), to its end; `onStdout` sees what it prints
 * as it prints it.
 */
export const runCli = (
  args: ReadonlyArray<string>,
  env: Record<string, string | undefined> = {},
  onStdout?: (printed: string) => void,
  runtime: "node" | "deno" = "node"
): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const [command, ...prefix] = runtime === "node" ? [process.execPath] : [DENO, "run", "-A"]
    const child = spawn(command as string, [...prefix, MAIN, ...args], {
      cwd: ROOT, // Deno reads deno.json (node_modules as they are) from here
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DATABASE_URL: undefined, ...env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      onStdout?.(stdout)
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })

/** The JSON a `--json` run printed. */
export const parsed = (run: CliRun): unknown => JSON.parse(run.stdout)

/** A long-running `waypoint` process (`serve`, `worker`): wait for a line it prints, stop it, read how it ended. */
export const startCli = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) => {
  const waiters: Array<{ readonly pattern: RegExp; readonly resolve: (match: RegExpMatchArray) => void }> = []
  let printed = ""
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = printed.match(waiter.pattern)
      if (match !== null) {
        waiters.splice(waiters.indexOf(waiter), 1)
        waiter.resolve(match)
      }
    }
  }
  const child = spawn(process.execPath, [MAIN, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DATABASE_URL: undefined, ...env }
  })
  let stderr = ""
  child.stdout.on("data", (chunk: Buffer) => {
    printed += chunk.toString()
    check()
  })
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const ended = new Promise<CliRun>((resolve) =>
    child.on("close", (code) => resolve({ code, stdout: printed, stderr }))
  )
  return {
    /** The first match of `pattern` in what it printed, now or later. */
    waitFor: (pattern: RegExp): Promise<RegExpMatchArray> =>
      new Promise((resolve) => {
        waiters.push({ pattern, resolve })
        check()
      }),
    /** Its process id. */
    pid: child.pid,
    /** Sends SIGTERM and waits for its end. */
    stop: (): Promise<CliRun> => {
      child.kill("SIGTERM")
      return ended
    },
    ended
  }
}
