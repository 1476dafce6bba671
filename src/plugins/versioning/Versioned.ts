/**
 * Data whose Schema changes over time: version 1 is a Schema, and each `migrate` adds the next version with a
 * step from the one before. A value is written with its version; an older value is read through each step in
 * order, and each step's result is checked against its version's Schema. Independent of where values are stored.
 */
import { Effect, Predicate, Schema } from "effect"
import { InvalidVersionedData, MigrationFailed, UnknownDataVersion } from "./errors.ts"

export const TypeId: unique symbol = Symbol.for("effect-waypoint/Versioned")

/** A value as stored: its JSON encoding and the version of the Schema that encoded it. */
export interface VersionedValue {
  readonly version: number
  readonly data: Schema.Json
}

/**
 * How a value of the previous version becomes a value of the next one: a function (which may throw or return a
 * failing Effect) or a Schema that decodes the previous value into the next.
 */
export type Migration<A, B> = ((previous: A) => B | Effect.Effect<B, unknown>) | Schema.Codec<B, A>

/** Data of type `A` at its current `version`, readable from every older version. */
export interface Versioned<A> {
  readonly [TypeId]: typeof TypeId
  /** The current version: 1 for `make`, one more for each `migrate`. */
  readonly version: number
  /** Adds the next version, with its Schema and the step from the current version to it. */
  readonly migrate: <B, BE>(schema: Schema.Codec<B, BE>, from: Migration<A, B>) => Versioned<B>
  /** Encodes a value at the current version. */
  readonly encode: (value: A) => Effect.Effect<VersionedValue, InvalidVersionedData>
  /**
   * Decodes stored data written at `version` (a value stored with no version is read as version 1) and migrates
   * it to the current version.
   */
  readonly decode: (
    data: unknown,
    version: number | undefined
  ) => Effect.Effect<A, UnknownDataVersion | MigrationFailed | InvalidVersionedData>
}

interface Step {
  readonly codec: Schema.Codec<unknown, Schema.Json>
  /** From the previous version's value to this version's (never called for version 1). */
  readonly up: (previous: unknown) => Effect.Effect<unknown, string>
}

const reasonOf = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && Predicate.isString(error.message) ? error.message : String(error)

const jsonCodec = <A, E>(schema: Schema.Codec<A, E>): Schema.Codec<unknown, Schema.Json> =>
  Schema.toCodecJson(schema) as unknown as Schema.Codec<unknown, Schema.Json>

const toUp = <A, B>(from: Migration<A, B>): Step["up"] =>
  Schema.isSchema(from)
    ? (previous) => Effect.mapError(Schema.decodeUnknownEffect(from)(previous), reasonOf)
    : (previous) =>
        Effect.try({ try: () => from(previous as A), catch: reasonOf }).pipe(
          Effect.flatMap((next) => (Effect.isEffect(next) ? Effect.mapError(next, reasonOf) : Effect.succeed(next)))
        )

const fromSteps = <A>(steps: ReadonlyArray<Step>): Versioned<A> => {
  const current = steps.length
  const stepAt = (version: number) => steps[version - 1] as Step

  const encode = (value: A) =>
    Schema.encodeUnknownEffect(stepAt(current).codec)(value).pipe(
      Effect.map((data): VersionedValue => ({ version: current, data })),
      Effect.mapError((error) => new InvalidVersionedData({ version: current, issue: error.message }))
    )

  const decode = Effect.fnUntraced(function* (data: unknown, version: number | undefined) {
    const from = version ?? 1
    if (!Number.isInteger(from) || from < 1 || from > current) {
      return yield* new UnknownDataVersion({ version: from, currentVersion: current })
    }
    let value = yield* Schema.decodeUnknownEffect(stepAt(from).codec)(data).pipe(
      Effect.mapError((error) => new InvalidVersionedData({ version: from, issue: error.message }))
    )
    for (let version = from + 1; version <= current; version++) {
      const step = stepAt(version)
      const fail = (reason: string) => new MigrationFailed({ fromVersion: version - 1, toVersion: version, reason })
      value = yield* Effect.mapError(step.up(value), fail)
      // A migration is user code: its result must match the next version before the chain goes on.
      yield* Schema.encodeUnknownEffect(step.codec)(value).pipe(
        Effect.mapError((error) => fail(`its result does not match version ${version}: ${error.message}`))
      )
    }
    return value as A
  })

  return {
    [TypeId]: TypeId,
    version: current,
    migrate: <B, BE>(schema: Schema.Codec<B, BE>, from: Migration<A, B>) =>
      fromSteps<B>([...steps, { codec: jsonCodec(schema), up: toUp(from) }]),
    encode,
    decode
  }
}

/**
 * Starts versioned data at version 1 with `schema`.
 *
 * @example
 * ```ts
 * const Doc = Versioned.make(Schema.Struct({ title: Schema.String }))
 *   .migrate(Schema.Struct({ title: Schema.String, tags: Schema.Array(Schema.String) }), (v1) => ({ ...v1, tags: [] }))
 * // Doc.version === 2; a version 1 value reads as { title, tags: [] }
 * ```
 */
export const make = <A, E>(schema: Schema.Codec<A, E>): Versioned<A> =>
  fromSteps<A>([{ codec: jsonCodec(schema), up: Effect.succeed }])

/** True for a `Versioned` value. */
export const isVersioned = (u: unknown): u is Versioned<unknown> => Predicate.hasProperty(u, TypeId)
