/**
 * One key of task state holding versioned data: written with the current version of a `Versioned` schema, and
 * read back through its migrations, so state written by an older deployment of a task still reads. A value of an
 * unknown (newer) version, or one whose migration fails, is a typed error, never silent data.
 */
import { Effect, Option, Predicate, type Schema } from "effect"
import type { StoreError } from "../../stores/errors.ts"
import type { InvalidVersionedData, MigrationFailed, UnknownDataVersion } from "../versioning/errors.ts"
import type { Versioned } from "../versioning/Versioned.ts"
import { type OptionalScopeError, TaskState, type TaskStateView, type TaskStateWriteError } from "./TaskState.ts"

/** Why a versioned value could not be read. */
export type VersionedReadError = UnknownDataVersion | MigrationFailed | InvalidVersionedData | StoreError

/** Typed access to one versioned key; `E` as in `TaskStateView` (what reaching its scope may fail with). */
export interface VersionedState<A, E = never> {
  /** The value, migrated to the current version; `None` when the key is absent or expired. */
  readonly get: Effect.Effect<Option.Option<A>, VersionedReadError | E>
  /** Writes the value at the current version. */
  readonly set: (value: A) => Effect.Effect<void, InvalidVersionedData | TaskStateWriteError | E>
}

const isVersionedValue = (u: Schema.Json): u is { readonly version: number; readonly data: Schema.Json } =>
  Predicate.isObject(u) &&
  Predicate.hasProperty(u, "version") &&
  Predicate.isNumber(u.version) &&
  Predicate.hasProperty(u, "data")

/**
 * Accessors for `key` of the task's state (or of `options.scope`) holding data of `schema`.
 *
 * @example
 * ```ts
 * const Profile = Versioned.make(Schema.Struct({ name: Schema.String })).migrate(
 *   Schema.Struct({ first: Schema.String, last: Schema.String }),
 *   ({ name }) => ({ first: name.split(" ")[0] ?? "", last: name.split(" ")[1] ?? "" })
 * )
 * const profile = yield* versionedState("profile", Profile)
 * const current = yield* profile.get // a v1 value comes back migrated to v2
 * ```
 */
export const versionedState = <A, const N extends string = never>(
  key: string,
  schema: Versioned<A>,
  options?: { readonly scope?: N | undefined }
): Effect.Effect<VersionedState<A, OptionalScopeError<N>>, never, TaskState> =>
  Effect.map(Effect.service(TaskState), (root): VersionedState<A, OptionalScopeError<N>> => {
    // the scope's own error type, narrowed as `TaskState.typed` narrows it
    const state = (options?.scope === undefined ? root : root.scope(options.scope)) as TaskStateView<
      OptionalScopeError<N>
    >
    return {
      get: Effect.flatMap(state.get(key), (stored) => {
        if (Option.isNone(stored)) return Effect.succeedNone
        const value = stored.value
        // A value written before the key was versioned is read as version 1.
        const decoded = isVersionedValue(value)
          ? schema.decode(value.data, value.version)
          : schema.decode(value, undefined)
        return Effect.asSome(decoded)
      }),
      set: (value) => Effect.flatMap(schema.encode(value), (encoded) => state.set(key, encoded))
    }
  })
