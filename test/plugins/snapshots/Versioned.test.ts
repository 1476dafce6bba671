import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema, SchemaGetter } from "effect"
import * as Versioned from "../../../src/plugins/versioning/Versioned.ts"

const V1 = Schema.Struct({ name: Schema.String })
const V2 = Schema.Struct({ firstName: Schema.String, lastName: Schema.String })
const V3 = Schema.Struct({ firstName: Schema.String, lastName: Schema.String, tags: Schema.Array(Schema.String) })

/** A person's name: split in two at version 2, tagged at version 3. */
const Person = Versioned.make(V1)
  .migrate(V2, (v1) => {
    const [firstName = "", ...rest] = v1.name.split(" ")
    return { firstName, lastName: rest.join(" ") }
  })
  .migrate(V3, (v2) => Effect.succeed({ ...v2, tags: [] }))

describe("Versioned", () => {
  it.effect("counts one version per migration and writes values at the current one", () =>
    Effect.gen(function* () {
      assert.strictEqual(Versioned.make(V1).version, 1)
      assert.strictEqual(Person.version, 3)
      const encoded = yield* Person.encode({ firstName: "Ada", lastName: "Lovelace", tags: ["math"] })
      assert.deepStrictEqual(encoded, { version: 3, data: { firstName: "Ada", lastName: "Lovelace", tags: ["math"] } })
    })
  )

  it.effect("reads an older value through every migration in order", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* Person.decode({ name: "Ada King Lovelace" }, 1), {
        firstName: "Ada",
        lastName: "King Lovelace",
        tags: []
      })
      assert.deepStrictEqual(yield* Person.decode({ firstName: "Alan", lastName: "Turing" }, 2), {
        firstName: "Alan",
        lastName: "Turing",
        tags: []
      })
      assert.deepStrictEqual(yield* Person.decode({ name: "Grace" }, undefined), {
        firstName: "Grace",
        lastName: "",
        tags: []
      })
    })
  )

  it.effect("fails with UnknownDataVersion for a version it does not know", () =>
    Effect.gen(function* () {
      const newer = yield* Effect.flip(Person.decode({ anything: true }, 4))
      assert.deepInclude(newer, { _tag: "UnknownDataVersion", version: 4, currentVersion: 3 })
      const zero = yield* Effect.flip(Person.decode({ name: "x" }, 0))
      assert.strictEqual(zero._tag, "UnknownDataVersion")
    })
  )

  it.effect("fails with MigrationFailed when a step throws, fails, or gives a value of the wrong shape", () =>
    Effect.gen(function* () {
      const throwing = Versioned.make(V1).migrate(V2, () => {
        throw new Error("cannot split")
      })
      const thrown = yield* Effect.flip(throwing.decode({ name: "Ada" }, 1))
      assert.deepInclude(thrown, { _tag: "MigrationFailed", fromVersion: 1, toVersion: 2, reason: "cannot split" })

      const failing = Versioned.make(V1).migrate(V2, () => Effect.fail("no"))
      assert.deepInclude(yield* Effect.flip(failing.decode({ name: "Ada" }, 1)), {
        _tag: "MigrationFailed",
        reason: "no"
      })

      const wrong = Versioned.make(V1).migrate(V2, (v1) => ({ firstName: v1.name }) as unknown as typeof V2.Type)
      const shaped = yield* Effect.flip(wrong.decode({ name: "Ada" }, 1))
      assert.strictEqual(shaped._tag, "MigrationFailed")
      if (shaped._tag === "MigrationFailed") assert.include(shaped.reason, "does not match version 2")
    })
  )

  it.effect("migrates with a Schema that decodes the previous version", () =>
    Effect.gen(function* () {
      const Celsius = Schema.Struct({ celsius: Schema.Number })
      const Kelvin = Schema.Struct({ kelvin: Schema.Number })
      const toKelvin = Celsius.pipe(
        Schema.decodeTo(Kelvin, {
          decode: SchemaGetter.transform((c: typeof Celsius.Type) => ({ kelvin: c.celsius + 273.15 })),
          encode: SchemaGetter.transform((k: typeof Kelvin.Type) => ({ celsius: k.kelvin - 273.15 }))
        })
      )
      const Temperature = Versioned.make(Celsius).migrate(Kelvin, toKelvin)
      assert.deepStrictEqual(yield* Temperature.decode({ celsius: 20 }, 1), { kelvin: 293.15 })
    })
  )

  it.effect("fails with InvalidVersionedData for a stored value that does not match its version", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Person.decode({ firstName: 1 }, 2))
      assert.deepInclude(error, { _tag: "InvalidVersionedData", version: 2 })
    })
  )
})
