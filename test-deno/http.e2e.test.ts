/**
 * The HTTP app served by `Deno.serve` (serveDeno): start a task with fetch, follow its event stream to the end,
 * and close the server. Run by `deno test -A test-deno/` (npm run test:deno).
 */
import { Effect, Schema } from "effect"
import { makeApp, serveDeno } from "../src/http.ts"
import { MemoryTaskStore, Runtime, task } from "../src/index.ts"

const assertEquals = (actual: unknown, expected: unknown) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

const slow = task({ name: "slow", input: Schema.Struct({ millis: Schema.Number }) }, ({ millis }) =>
  Effect.as(Effect.sleep(millis), "done")
)

/** The `data` of every event until the stream ends. */
const readEvents = (response: Response) =>
  Effect.promise(async () => {
    const events: Array<{ status?: string; seq: number }> = []
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ""
    while (true) {
      const { done, value } = await reader.read()
      if (done) return events
      buffer += value
      let end = buffer.indexOf("\n\n")
      while (end >= 0) {
        const data = buffer
          .slice(0, end)
          .split("\n")
          .find((line) => line.startsWith("data: "))
        if (data !== undefined) events.push(JSON.parse(data.slice(6)))
        buffer = buffer.slice(end + 2)
        end = buffer.indexOf("\n\n")
      }
    }
  })

Deno.test("serves a start and its event stream on a loopback port, then closes", () =>
  Effect.runPromise(
    Effect.gen(function* () {
      const runtime = yield* Runtime.make()
      const app = yield* makeApp({ runtime, tasks: [slow] })
      const server = yield* serveDeno(app, { port: 0 })
      assertEquals(server.url, `http://127.0.0.1:${server.port}`)

      const started = yield* Effect.promise(() =>
        fetch(`${server.url}/tasks/slow`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ millis: 50 })
        })
      )
      assertEquals(started.status, 201)
      const { id } = (yield* Effect.promise(() => started.json())) as { id: string }
      const events = yield* readEvents(yield* Effect.promise(() => fetch(`${server.url}/tasks/${id}/events`)))
      assertEquals(events.at(-1)?.status, "completed")
      for (let i = 1; i < events.length; i++) {
        if (events[i]!.seq <= events[i - 1]!.seq) throw new Error("events out of order")
      }
      const record = yield* Effect.promise(() => fetch(`${server.url}/tasks/${id}`).then((r) => r.json()))
      assertEquals(record.output, "done")

      // An open stream does not hold the server up: closing ends it.
      const open = yield* Effect.promise(() => fetch(`${server.url}/events`))
      const drained = Effect.runPromise(readEvents(open))
      yield* server.close
      assertEquals(yield* Effect.promise(() => drained), [])
      const refused = yield* Effect.exit(Effect.tryPromise(() => fetch(`${server.url}/health`)))
      assertEquals(refused._tag, "Failure")
    }).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
  ))
