import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { MemoryTaskStore, PromiseRuntime, task } from "../../src/index.ts"

class Refused extends Schema.TaggedError<Refused>()("Refused", { who: Schema.String }) {}

const greet = task({ name: "greet", input: Schema.Struct({ name: Schema.String }) }, ({ name }) =>
  name === "Mallory" ? Effect.fail(new Refused({ who: name })) : Effect.succeed(`hello ${name}`)
)
const sleepy = task({ name: "sleepy", input: Schema.Void }, () => Effect.never)

describe("PromiseRuntime", () => {
  it("submits, awaits and reads status with Promises", async () => {
    const runtime = await PromiseRuntime.make({ layer: MemoryTaskStore.layer })
    try {
      const handle = await runtime.submit(greet, { name: "Ada" })
      assert.strictEqual(await handle.result("5 seconds"), "hello Ada")
      assert.strictEqual(await handle.status(), "completed")
      assert.strictEqual(await runtime.run(greet, { name: "Lin" }), "hello Lin")
    } finally {
      await runtime.close()
    }
  })

  it("rejects with the task's typed error", async () => {
    const runtime = await PromiseRuntime.make({ layer: MemoryTaskStore.layer })
    try {
      const handle = await runtime.submit(greet, { name: "Mallory" })
      const error: unknown = await handle.result().then(
        () => undefined,
        (e: unknown) => e
      )
      assert.instanceOf(error, Refused)
      const invalid: unknown = await runtime.submit(greet, { name: 42 } as unknown as { name: string }).then(
        () => undefined,
        (e: unknown) => e
      )
      assert.strictEqual((invalid as { _tag: string })._tag, "InvalidTaskInput")
    } finally {
      await runtime.close()
    }
  })

  it("cancels a running task", async () => {
    const runtime = await PromiseRuntime.make({ layer: MemoryTaskStore.layer })
    try {
      const handle = await runtime.submit(sleepy, undefined)
      await handle.cancel()
      assert.strictEqual(await handle.status(), "cancelled")
      const error = await handle.result().catch((e: unknown) => e)
      assert.strictEqual((error as { _tag: string })._tag, "TaskCancelled")
    } finally {
      await runtime.close()
    }
  })
})
