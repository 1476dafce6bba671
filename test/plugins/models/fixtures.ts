/**
 * What the model-call tests share: every store (memory, PGlite from one migrated template per file, and the server
 * when DATABASE_URL is set), and a runtime with the state and model-call plugins over the scripted model.
 */
import { Effect, Layer, type Scope } from "effect"
import { LanguageModel } from "effect/ai"
import { ModelCalls, type ModelCallsOptions, type Script, ScriptedModel } from "../../../src/ai.ts"
import { MemoryStore, Runtime, StatePlugin } from "../../../src/index.ts"
import { PostgresStore } from "../../../src/postgres.ts"
import { layerFrom, makeTemplate } from "../../stores/postgres/pgliteTemplate.ts"
import * as TestDatabase from "../../stores/postgres/TestDatabase.ts"

export type Stores = Layer.Success<typeof MemoryStore.layer>

// A migrated PGlite, made once per file: each test loads it (0.3 s) instead of migrating a new one (seconds).
let template: Promise<Blob> | undefined
const pgliteTemplate = () => {
  template ??= Effect.runPromise(makeTemplate)
  return template
}

export const pglite: Layer.Layer<Stores, unknown> = Layer.unwrap(Effect.map(Effect.promise(pgliteTemplate), layerFrom))

export const stores: ReadonlyArray<readonly [string, Layer.Layer<Stores, unknown>]> = [
  ["memory", MemoryStore.layer],
  ["PGlite", pglite],
  ...(TestDatabase.noServer
    ? []
    : [
        [
          "the server",
          Layer.unwrap(Effect.map(TestDatabase.scoped(TestDatabase.adminUrl), (url) => PostgresStore.layer({ url })))
        ] as const
      ])
]

/** The services a task of these tests may ask for. */
export type ModelServices = LanguageModel.LanguageModel | Layer.Success<ReturnType<typeof StatePlugin.make>["layer"]>

/** Runs `f` with a runtime (state and model-call plugins) over `store`, the scripted model answering from `script`. */
export const withModel = <A, E>(
  store: Layer.Layer<Stores, unknown>,
  script: Script,
  f: (
    runtime: Runtime.Runtime<ModelServices>,
    model: ScriptedModel.ScriptedModel
  ) => Effect.Effect<A, E, Scope.Scope | Stores>,
  options: ModelCallsOptions = {}
) =>
  Effect.gen(function* () {
    const model = yield* ScriptedModel.make(script)
    const runtime = yield* Runtime.make({ plugins: [StatePlugin.make(), ModelCalls.make(options)] }).pipe(
      Effect.provideService(LanguageModel.LanguageModel, model.service)
    )
    return yield* f(runtime, model)
  }).pipe(Effect.scoped, Effect.provide(store))
