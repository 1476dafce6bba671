/**
 * `TaskState.typed`: the keys of a `Schema.Struct`, each value encoded with its field's Schema on write and decoded on
 * read, over a view of task state.
 */
import { Effect, Option, Schema } from "effect"
import { StateDecodeError, StateInvalidValue } from "../errors.ts"
import type { TaskStateView, TypedTaskState, TypedTaskStateServices } from "../TaskState.ts"

type Json = Schema.Json

/** Typed access to the keys of `schema` in `state`. */
export const makeTyped = <Fields extends Schema.Struct.Fields, E>(
  schema: Schema.Struct<Fields>,
  state: TaskStateView<E>
): TypedTaskState<Fields, E> => {
  type R = TypedTaskStateServices<Fields>
  const codecs = new Map<string, Schema.ConstraintCodec<unknown, Json, R, R>>()
  const codecOf = (key: string) => {
    let codec = codecs.get(key)
    if (codec === undefined) {
      const field = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined
      if (field === undefined) return Effect.die(new Error(`typed TaskState: "${key}" is not a field of its Struct`))
      // A field's JSON codec needs the field's own services, which are among the Struct's.
      codec = Schema.toCodecJson(field) as Schema.ConstraintCodec<unknown, Json, R, R>
      codecs.set(key, codec)
    }
    return Effect.succeed(codec)
  }
  const decode = (key: string, json: Json) =>
    Effect.flatMap(codecOf(key), (codec) =>
      Effect.mapError(
        Schema.decodeUnknownEffect(codec)(json),
        (error) => new StateDecodeError({ key, issue: error.message })
      )
    )
  const encode = (key: string, value: unknown) =>
    Effect.flatMap(codecOf(key), (codec) =>
      Effect.mapError(
        Schema.encodeUnknownEffect(codec)(value),
        (error) => new StateInvalidValue({ key, issue: error.message })
      )
    )

  return {
    get: (key) =>
      Effect.flatMap(state.get(key), (json) => Effect.transposeOption(Option.map(json, (j) => decode(key, j)))),
    getAll: Effect.fnUntraced(function* () {
      const all = yield* state.getAll()
      const typed: Record<string, unknown> = {}
      for (const key of Object.keys(schema.fields)) {
        const json = Object.hasOwn(all, key) ? all[key] : undefined
        if (json !== undefined) typed[key] = yield* decode(key, json)
      }
      // Every key was decoded by its field's Schema.
      return typed as Partial<Schema.Struct.Type<Fields>>
    }),
    set: (key, value, options) => Effect.flatMap(encode(key, value), (json) => state.set(key, json, options)),
    modify: (key, f, options) =>
      Effect.flatMap(
        state.modifyEffect(
          key,
          (current) =>
            Effect.flatMap(Effect.transposeOption(Option.map(current, (j) => decode(key, j))), (typed) =>
              encode(key, f(typed))
            ),
          options
        ),
        (json) => decode(key, json)
      ),
    delete: (key) => state.delete(key)
  }
}
