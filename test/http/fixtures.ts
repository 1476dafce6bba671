import { assert } from "@effect/vitest"
import { Deferred, Effect, type Layer, Schema, type Scope, Stream } from "effect"
import type { Hono } from "hono"
import { type AppOptions, type InvalidBearerToken, makeApp } from "../../src/http.ts"
import {
  MemoryStore,
  MemoryTaskStore,
  Runtime,
  StateManager,
  type TaskStatus,
  TaskStore,
  task
} from "../../src/index.ts"

export const greet = task({ name: "greet", input: Schema.Struct({ name: Schema.String }) }, ({ name }) =>
  Effect.succeed(`hello ${name}`)
)

export const order = task(
  {
    name: "order",
    input: Schema.Struct({
      sku: Schema.String,
      quantity: Schema.Number.check(Schema.isInt(), Schema.isGreaterThan(0)),
      note: Schema.optionalKey(Schema.String)
    }).annotate({ identifier: "OrderInput" })
  },
  ({ quantity }) => Effect.succeed({ total: quantity * 10 })
)

/** A task that tells when its body has started, then runs until the gate opens. */
export const gatedTask = (gate: Deferred.Deferred<void>, started?: Deferred.Deferred<void>) =>
  task({ name: "gated", input: Schema.Struct({}) }, () =>
    Effect.andThen(started === undefined ? Effect.void : Deferred.succeed(started, undefined), () =>
      Effect.as(Deferred.await(gate), "through")
    )
  )

export interface TestEnv {
  readonly app: Hono
  readonly runtime: Runtime.Runtime<never>
}

type Options = Omit<AppOptions<never>, "runtime" | "tasks"> & {
  readonly tasks?: AppOptions<never>["tasks"]
  readonly wrap?: (runtime: Runtime.Runtime<never>) => Runtime.Runtime<never>
  /** The task store the app is built with (the runtime keeps the plain one). */
  readonly wrapTaskStore?: (store: TaskStore["Service"]) => TaskStore["Service"]
  /** Every memory store (state, snapshots, progress...) and a StateManager, instead of a task store alone. */
  readonly everyStore?: boolean
}

/** A fresh runtime on a memory store and an app over it, for one test. */
export const withApp = <A, E>(
  f: (env: TestEnv) => Effect.Effect<A, E, Scope.Scope | TaskStore>,
  options: Options = {}
): Effect.Effect<A, E | InvalidBearerToken> => {
  const { wrap, wrapTaskStore, tasks, everyStore, ...rest } = options
  const build = (stateManager: StateManager["Service"] | undefined) =>
    Effect.gen(function* () {
      const inner = yield* Runtime.make()
      const runtime = wrap === undefined ? inner : wrap(inner)
      const store = yield* TaskStore
      const app = yield* makeApp({ runtime, tasks: tasks ?? [greet, order], stateManager, ...rest }).pipe(
        Effect.provideService(TaskStore, wrapTaskStore === undefined ? store : wrapTaskStore(store))
      )
      return yield* f({ app, runtime: inner })
    }).pipe(Effect.scoped)
  return everyStore === true
    ? Effect.flatMap(Effect.service(StateManager), build).pipe(
        Effect.provide(StateManager.layer()),
        Effect.provide(MemoryStore.layer)
      )
    : build(undefined).pipe(Effect.provide(MemoryTaskStore.layer))
}

/** Every memory store, fresh, for a test that builds its own runtime (with plugins) and app. */
export const withEveryStore = <A, E>(
  effect: Effect.Effect<A, E, Scope.Scope | Layer.Success<typeof MemoryStore.layer>>
): Effect.Effect<A, E> => effect.pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

export const request = (app: Hono, path: string, init?: RequestInit) =>
  Effect.promise(() => Promise.resolve(app.request(path, init)))

export const postJson = (app: Hono, path: string, body: unknown, headers: Record<string, string> = {}) =>
  request(app, path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers }
  })

export const readJson = (response: Response) =>
  Effect.promise(() => response.json() as Promise<Record<string, unknown>>)

/** Asserts a problem+json answer with this status and tag, and returns it. */
export const expectProblem = (response: Response, status: number, tag: string) =>
  Effect.gen(function* () {
    assert.strictEqual(response.status, status)
    assert.strictEqual(response.headers.get("content-type"), "application/problem+json")
    const problem = yield* readJson(response)
    assert.strictEqual(problem.status, status)
    assert.strictEqual(problem.tag, tag)
    assert.isString(problem.title)
    assert.isString(problem.type)
    return problem
  })

/** Waits, by the task's own events, until it reaches `status`; fails if it ends in another. */
export const awaitStatus = <P>(runtime: Runtime.Runtime<P>, id: string, status: TaskStatus) =>
  runtime.handle(greet, id).events.pipe(
    Stream.filter((event) => event._tag === "StatusChanged"),
    Stream.takeUntil((event) => event.status === status),
    Stream.runLast,
    Effect.map((last) => assert.strictEqual(last._tag === "Some" ? last.value.status : undefined, status))
  )

export const countTasks = <P>(runtime: Runtime.Runtime<P>) =>
  Effect.map(runtime.list({ limit: 1000 }), (page) => page.items.length)

/** One parsed Server-Sent Event; comments are kept so heartbeats can be seen. */
export interface SseFrame {
  readonly id?: string
  readonly event?: string
  readonly data?: string
  readonly comment?: string
}

const parseFrame = (block: string): SseFrame => {
  const frame: Record<string, string> = {}
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) frame.comment = line.slice(1).trim()
    else {
      const at = line.indexOf(":")
      frame[line.slice(0, at)] = line.slice(at + 1).trimStart()
    }
  }
  return frame
}

/** Reads a text/event-stream body frame by frame. */
export const sseReader = (response: Response) => {
  assert.strictEqual(response.status, 200)
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/)
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  /** The next frame, or undefined when the stream has ended. */
  const next: Effect.Effect<SseFrame | undefined> = Effect.suspend(() => {
    const end = buffer.indexOf("\n\n")
    if (end >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      return Effect.succeed(parseFrame(block))
    }
    return Effect.flatMap(
      Effect.promise(() => reader.read()),
      ({ done, value }) => {
        if (done) return Effect.succeed(undefined)
        buffer += decoder.decode(value, { stream: true })
        return next
      }
    )
  })
  /** The next frame that is an event (not a comment). */
  const nextEvent: Effect.Effect<SseFrame | undefined> = Effect.flatMap(next, (frame) =>
    frame !== undefined && frame.comment !== undefined ? nextEvent : Effect.succeed(frame)
  )
  /** Every remaining event until the stream ends. */
  const rest = Effect.gen(function* () {
    const frames: Array<SseFrame> = []
    while (true) {
      const frame = yield* nextEvent
      if (frame === undefined) return frames
      frames.push(frame)
    }
  })
  return { next, nextEvent, rest, cancel: Effect.promise(() => reader.cancel()) }
}

export const dataOf = (frame: SseFrame | undefined): Record<string, unknown> => {
  assert.isDefined(frame?.data)
  return JSON.parse(frame!.data!) as Record<string, unknown>
}
