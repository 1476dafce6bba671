/**
 * An HTTP server and worker processes over one PostgreSQL server, started by one command. The server starts tasks
 * (`POST /tasks/render`) and serves the API and the dashboard (`/ui`); it runs none itself. The workers, separate
 * processes (`worker.ts`), claim and run them; kill one and another takes its tasks over when the lease ends.
 * `--demo <n>` starts n tasks over HTTP, follows them to the end, prints which worker ran each, and stops. See
 * `--help`.
 */
import { spawn } from "node:child_process"
import { parseArgs } from "node:util"
import { Effect, Layer, Schedule, Schema } from "effect"
import { makeApp, serveNode } from "../../src/http.ts"
import { Runtime } from "../../src/index.ts"
import { PostgresStore } from "../../src/postgres.ts"
import { plugins, tasks } from "./tasks.ts"

const USAGE = `Usage: DATABASE_URL=postgres://... npm run example:http -- [options]

Starts an HTTP server (the API and the dashboard at /ui) and worker processes over one PostgreSQL server.

Options:
  --workers <n>   worker processes to start (1-16, default 2)
  --port <port>   the server's port (default 3000; 0 picks a free one)
  --demo <n>      start n tasks over HTTP, follow them to the end, print who ran each, and stop
  -h, --help      show this help`

class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { reason: Schema.String }) {}

const out = (line: string) => Effect.sync(() => process.stdout.write(`${line}\n`))

const integer = (name: string, raw: string | undefined, fallback: number, min: number, max: number) => {
  const value = raw === undefined ? fallback : Number(raw)
  return Number.isInteger(value) && value >= min && value <= max
    ? Effect.succeed(value)
    : Effect.fail(new UsageError({ reason: `--${name} must be a whole number from ${min} to ${max}, got "${raw}"` }))
}

const parseOptions = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const values = yield* Effect.try({
      try: () =>
        parseArgs({
          args: [...argv],
          strict: true,
          options: {
            workers: { type: "string" },
            port: { type: "string" },
            demo: { type: "string" },
            help: { type: "boolean", short: "h" }
          }
        }).values,
      catch: (error) => new UsageError({ reason: error instanceof Error ? error.message : String(error) })
    })
    const url = process.env.DATABASE_URL ?? ""
    if (values.help !== true && url === "") {
      return yield* new UsageError({ reason: "DATABASE_URL must name the PostgreSQL server the workers share" })
    }
    return {
      help: values.help === true,
      url,
      workers: yield* integer("workers", values.workers, 2, 1, 16),
      port: yield* integer("port", values.port, 3000, 0, 65_535),
      demo: yield* integer("demo", values.demo, 0, 0, 1000)
    }
  })

/** A worker process, and when it said it was ready (its runtime runs). */
const startWorker = () => {
  const child = spawn(process.execPath, [new URL("./worker.ts", import.meta.url).pathname], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk: Buffer) => {
      process.stdout.write(chunk)
      if (chunk.toString().includes(" ready")) resolve()
    })
    child.once("exit", (code) => reject(new Error(`a worker exited with code ${code} before it was ready`)))
  })
  return { child, ready }
}

/** Starts the worker processes and waits until each is ready; they get SIGTERM when the scope closes, and are awaited. */
const startWorkers = (count: number) =>
  Effect.acquireRelease(
    Effect.sync(() => Array.from({ length: count }, startWorker)),
    (workers) =>
      Effect.promise(() =>
        Promise.all(
          workers.map(
            ({ child }) =>
              new Promise<void>((resolve) => {
                if (child.exitCode !== null || child.signalCode !== null) return resolve()
                child.once("exit", () => resolve())
                child.kill("SIGTERM")
              })
          )
        )
      )
  ).pipe(Effect.flatMap((workers) => Effect.promise(() => Promise.all(workers.map((worker) => worker.ready)))))

interface TaskView {
  readonly id: string
  readonly status: string
  readonly output?: { readonly renderedBy: string } | undefined
}

const http = (base: string, path: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(`${base}${path}`, init)
    if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`)
    return (await response.json()) as TaskView
  })

/** Starts `count` renders over HTTP, then reads each until it has ended. */
const demo = (base: string, count: number) =>
  Effect.gen(function* () {
    const started = yield* Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) =>
        http(base, "/tasks/render", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ frames: 5 + (i % 3), frameMs: 50 })
        })
    )
    yield* out(`started ${started.length} tasks over HTTP`)
    const ended = yield* Effect.forEach(
      started,
      (task) =>
        http(base, `/tasks/${task.id}`).pipe(
          Effect.repeat({
            until: (view) => ["completed", "failed", "cancelled"].includes(view.status),
            schedule: Schedule.spaced("100 millis")
          })
        ),
      { concurrency: "unbounded" }
    )
    for (const task of ended) yield* out(`task ${task.id} ${task.status}, rendered by ${task.output?.renderedBy}`)
    const runners = new Set(ended.map((task) => task.output?.renderedBy))
    yield* out(`${ended.filter((t) => t.status === "completed").length}/${count} completed by ${runners.size} workers`)
  })

const program = (argv: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const options = yield* parseOptions(argv)
    if (options.help) return yield* out(USAGE)
    const stores = yield* Layer.build(PostgresStore.layer({ url: options.url }))
    yield* Effect.gen(function* () {
      // The server's runtime starts tasks and reads them, and runs none: a submit only records the task, pending,
      // and the workers claim it.
      const runtime = yield* Runtime.make({ id: `server-${process.pid}`, plugins, tasks, submitRunsHere: false })
      const app = yield* makeApp({ runtime, tasks })
      const server = yield* serveNode(app, { port: options.port })
      const base = `http://${server.hostname}:${server.port}`
      yield* startWorkers(options.workers)
      yield* out(`API at ${base}/openapi.json, dashboard at ${base}/ui`)
      yield* out(
        `start a task: curl -X POST ${base}/tasks/render -H 'content-type: application/json' -d '{"frames":10,"frameMs":500}'`
      )
      if (options.demo > 0) return yield* demo(base, options.demo)
      yield* out("Ctrl-C stops the server and the workers")
      return yield* Effect.never
    }).pipe(Effect.scoped, Effect.provideContext(stores))
  }).pipe(Effect.scoped)

const controller = new AbortController()
process.once("SIGINT", () => controller.abort())
const argv = process.argv.slice(2)
Effect.runPromiseExit(program(argv[0] === "--" ? argv.slice(1) : argv), { signal: controller.signal }).then((exit) => {
  if (exit._tag === "Success" || controller.signal.aborted) return process.exit(0)
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  if (failure?._tag === "Fail" && failure.error instanceof UsageError) {
    process.stderr.write(`${failure.error.reason}\n\n${USAGE}\n`)
    process.exit(2)
  }
  process.stderr.write(`${String(exit.cause)}\n`)
  process.exit(1)
})
