/**
 * The tasks of the HTTP + workers example, shared by the server (which starts them) and the workers (which run
 * them): a render of `frames` frames, one recorded step each, reporting its progress, and returning which worker
 * process rendered it.
 */
import { Effect, Schema } from "effect"
import { Progress, ProgressPlugin, StatePlugin, step, task } from "../../src/index.ts"

export const plugins = [StatePlugin.make(), ProgressPlugin.make()] as const

export const render = task(
  {
    name: "render",
    input: Schema.Struct({
      frames: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 })),
      frameMs: Schema.Int
    }),
    output: Schema.Struct({ frames: Schema.Int, renderedBy: Schema.String })
  },
  ({ frames, frameMs }) =>
    Effect.gen(function* () {
      const progress = yield* Progress
      const renderedBy = `pid ${process.pid}`
      for (let i = 1; i <= frames; i++) {
        yield* step(`frame-${i}`, Effect.as(Effect.sleep(frameMs), i))
        yield* progress.update((i / frames) * 100, `frame ${i}/${frames}`)
      }
      return { frames, renderedBy }
    })
)

export const tasks = [render] as const
