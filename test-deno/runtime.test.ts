/**
 * The runtime under Deno: the same src/*.ts, run by `deno test -A test-deno/` (npm run test:deno).
 */
import { Deferred, Effect, Ref, Schedule, Schema } from "effect"
import { MemoryTaskStore, Runtime, TaskInfo, task } from "../src/index.ts"

const assertEquals = (actual: unknown, expected: unknown) => {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
  }
}

class Boom extends Schema.TaggedError<Boom>()("Boom", { attempt: Schema.Number }) {}

const greet = task({ name: "greet", input: Schema.Struct({ name: Schema.String }) }, ({ name }) =>
  Effect.succeed(`hello ${name}`)
)

const inRuntime = <A, E>(f: (runtime: Runtime.Runtime<never>) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.flatMap(Runtime.make(), f).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer)))

Deno.test("runs a task directly and through a handle", () =>
  inRuntime((runtime) =>
    Effect.gen(function* () {
      assertEquals(yield* runtime.run(greet, { name: "Deno" }), "hello Deno")
      const handle = yield* runtime.submit(greet, { name: "handle" })
      assertEquals(yield* handle.await, "hello handle")
      assertEquals(yield* handle.status, "completed")
    })
  ))

Deno.test("rejects bad input with InvalidTaskInput", () =>
  inRuntime((runtime) =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(runtime.submit(greet, { name: 1 } as unknown as { name: string }))
      assertEquals(error._tag, "InvalidTaskInput")
      assertEquals((yield* runtime.list({})).items.length, 0)
    })
  ))

Deno.test("cancels a running task and runs its finalizers", () =>
  inRuntime((runtime) =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Ref.make(false)
      const forever = task({ name: "forever", input: Schema.Void }, () =>
        Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Ref.set(finalized, true))
        )
      )
      const handle = yield* runtime.submit(forever, undefined)
      yield* Deferred.await(started)
      yield* handle.cancel
      assertEquals(yield* Ref.get(finalized), true)
      assertEquals(yield* handle.status, "cancelled")
    })
  ))

Deno.test("retries with numbered attempts", () =>
  inRuntime((runtime) =>
    Effect.gen(function* () {
      const flaky = task({ name: "flaky", input: Schema.Void, retry: Schedule.recurs(3) }, () =>
        Effect.gen(function* () {
          const info = yield* TaskInfo
          if (info.attempt < 3) return yield* new Boom({ attempt: info.attempt })
          return info.attempt
        })
      )
      assertEquals(yield* runtime.run(flaky, undefined), 3)
    })
  ))
