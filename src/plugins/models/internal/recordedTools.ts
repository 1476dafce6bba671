/**
 * A toolkit whose handlers' final results are recorded like steps: a body run again after a crash in the middle of
 * a model call (the call made again) gets the result recorded for the same tool and parameters in the same call,
 * without running the handler again. Failures are not recorded, so a failed handler runs again, as a failed step
 * would.
 */
import { Effect, Option, Schema, Stream } from "effect"
import type { Tool, Toolkit } from "effect/ai"
import type { TaskInfo } from "../../../runtime/TaskInfo.ts"
import { canonicalJson, sha256Hex } from "../../../stores/SnapshotStore.ts"
import type { StepStore } from "../../../stores/StepStore.ts"

type AnyToolkit = Toolkit.WithHandler<Record<string, Tool.Any>>

const RecordedResult = Schema.Struct({ encodedResult: Schema.Json })
const decodeRecorded = Schema.decodeUnknownOption(RecordedResult)

/** The step key prefix of recorded tool results. */
export const toolKeyPrefix = "tool:"

export const recordedTools = (
  toolkit: AnyToolkit,
  call: number,
  task: TaskInfo["Service"],
  steps: StepStore["Service"]
): AnyToolkit => {
  const seen = new Map<string, number>()
  const handle = (name: string, params: unknown, toolCallId?: string, options?: unknown) =>
    Effect.gen(function* () {
      const tool = toolkit.tools[name]
      const run = (toolkit.handle as (...args: ReadonlyArray<unknown>) => ReturnType<AnyToolkit["handle"]>)(
        name,
        params,
        toolCallId,
        options
      )
      if (tool === undefined) return yield* run
      const hash = yield* sha256Hex(canonicalJson(params as Schema.Json))
      const base = `${toolKeyPrefix}${call}:${name}:${hash.slice(0, 16)}`
      const occurrence = seen.get(base) ?? 0
      seen.set(base, occurrence + 1)
      const key = `${base}:${occurrence}`
      const codec = Schema.toCodecJson(tool.successSchema as Schema.Codec<unknown, unknown>)
      const recorded = Option.flatMap(yield* steps.getStep(task.id, key), decodeRecorded)
      if (Option.isSome(recorded)) {
        const encodedResult = recorded.value.encodedResult
        const result = yield* Effect.option(Schema.decodeUnknownEffect(codec)(encodedResult))
        if (Option.isSome(result)) {
          return Stream.succeed({
            result: result.value,
            encodedResult,
            isFailure: false,
            preliminary: false,
            ...(tool.toModelOutput === undefined ? {} : { modelOutput: tool.toModelOutput(result.value as never) })
          } as Tool.HandlerResult<Tool.Any>)
        }
      }
      const results = yield* run
      return Stream.tap(results, (result) =>
        result.isFailure || result.preliminary
          ? Effect.void
          : Effect.asVoid(
              steps
                .checkpoint({
                  taskId: task.id,
                  token: task.fencingToken,
                  key,
                  value: { encodedResult: result.encodedResult as Schema.Json }
                })
                .pipe(
                  Effect.catchTag("LeaseLost", () => Effect.interrupt),
                  Effect.catchTag("StoreError", (error) => Effect.logWarning("tool result not recorded", error))
                )
            )
      )
    })
  return { tools: toolkit.tools, handle: handle as unknown as AnyToolkit["handle"] }
}
