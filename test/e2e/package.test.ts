/**
 * The package as npm installs it: `npm pack` (which builds `dist/`), unpacked into the node_modules of a fresh folder
 * next to the dependencies a user would install, then imported by name, on Node and on Deno. Node strips no types
 * under node_modules, so this fails if an entry point is TypeScript, if a file the build needs is not packed (the
 * migrations), or if the declarations do not resolve for a user's type-checker.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = new URL("../../", import.meta.url).pathname
// what a user installs next to it: the dependency and the peers these entry points use
const installed = ["effect", "@electric-sql/pglite", "drizzle-orm", "postgres", "hono", "@hono/node-server"]

let folder = ""

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "waypoint-package-"))
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", folder], { cwd: root, encoding: "utf8" })
  ) as Array<{ readonly filename: string }>
  const tarball = join(folder, packed[0]?.filename ?? "")
  const modules = join(folder, "node_modules")
  await mkdir(join(modules, "@electric-sql"), { recursive: true })
  await mkdir(join(modules, "@hono"), { recursive: true })
  execFileSync("tar", ["-xzf", tarball, "-C", modules])
  await rm(join(modules, "effect-waypoint"), { recursive: true, force: true })
  execFileSync("mv", [join(modules, "package"), join(modules, "effect-waypoint")])
  for (const name of installed) await symlink(join(root, "node_modules", name), join(modules, name), "dir")
}, 180_000)

afterAll(() => rm(folder, { recursive: true, force: true }))

describe("the package as npm installs it", () => {
  it("runs a task on the memory store and on PGlite, imported by name from JavaScript", async () => {
    const program = join(folder, "consumer.mjs")
    await writeFile(
      program,
      `import { Effect, Schema } from "effect"
import { MemoryTaskStore, Runtime, task } from "effect-waypoint"
import { PgliteStore } from "effect-waypoint/postgres"
import { makeApp } from "effect-waypoint/http"
const hello = task({ name: "hello", input: Schema.String, output: Schema.String }, (name) => Effect.succeed("hello " + name))
const run = (layer) =>
  Effect.runPromise(Effect.flatMap(Runtime.make({}), (runtime) => runtime.run(hello, "npm")).pipe(Effect.scoped, Effect.provide(layer)))
console.log(await run(MemoryTaskStore.layer))
console.log(await run(PgliteStore.layer({ dataDir: process.argv[2] })))
console.log(typeof makeApp)
`
    )
    const result = spawnSync(process.execPath, [program, join(folder, "data")], { cwd: folder, encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), ["hello npm", "hello npm", "function"])
  }, 120_000)

  it("runs a task on the memory store and on PGlite under Deno, imported by name from node_modules", async () => {
    const program = join(folder, "deno-consumer.mjs")
    await writeFile(
      program,
      `import { Effect, Schema } from "effect"
import { MemoryTaskStore, Runtime, task } from "effect-waypoint"
import { PgliteStore } from "effect-waypoint/postgres"
const hello = task({ name: "hello", input: Schema.String, output: Schema.String }, (name) => Effect.succeed("hello " + name))
const run = (layer) =>
  Effect.runPromise(Effect.flatMap(Runtime.make({}), (runtime) => runtime.run(hello, "deno")).pipe(Effect.scoped, Effect.provide(layer)))
console.log(await run(MemoryTaskStore.layer))
console.log(await run(PgliteStore.layer({ dataDir: Deno.args[0] })))
`
    )
    // Deno resolves bare specifiers from node_modules through the folder's package.json
    await writeFile(
      join(folder, "package.json"),
      JSON.stringify({
        type: "module",
        dependencies: Object.fromEntries(["effect-waypoint", ...installed].map((n) => [n, "*"]))
      })
    )
    const deno = join(root, "node_modules", ".bin", "deno")
    const result = spawnSync(deno, ["run", "-A", program, join(folder, "deno-data")], { cwd: folder, encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), ["hello deno", "hello deno"])
  }, 120_000)

  it("type-checks a TypeScript user's program against the packed declarations", async () => {
    await writeFile(
      join(folder, "consumer.ts"),
      `import { Effect, Schema } from "effect"
import { Runtime, type TaskHandle, task } from "effect-waypoint"
import { PgliteStore } from "effect-waypoint/postgres"
const hello = task({ name: "hello", input: Schema.String, output: Schema.String }, (name) => Effect.succeed("hello " + name))
export const handle: Effect.Effect<TaskHandle<string, never>, unknown, never> = Effect.flatMap(Runtime.make({}), (runtime) =>
  runtime.submit(hello, "npm")
).pipe(Effect.scoped, Effect.provide(PgliteStore.layer({ dataDir: "data" })))
// @ts-expect-error: the input Schema says a string
export const wrong = task({ name: "wrong", input: Schema.String }, (name: number) => Effect.succeed(name))
`
    )
    await writeFile(
      join(folder, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: []
        },
        files: ["consumer.ts"]
      })
    )
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    const result = spawnSync(process.execPath, [tsc, "-p", join(folder, "tsconfig.json")], {
      cwd: folder,
      encoding: "utf8"
    })
    assert.strictEqual(result.status, 0, result.stdout + result.stderr)
    // the declarations came from the package's dist, not from its sources
    const manifest = JSON.parse(await readFile(join(folder, "node_modules", "effect-waypoint", "package.json"), "utf8"))
    assert.strictEqual(manifest.exports["."].types, "./dist/index.d.ts")
  }, 120_000)
})
