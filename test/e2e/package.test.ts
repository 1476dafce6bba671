/**
 * The package as a new user gets it: `npm pack` (which builds `dist/`), then the README's own install lines, run as
 * written in an empty folder with the tarball in place of the package's name, from the npm registry. Then a program
 * imports every entry point by name and runs a task through each (the test kit too), on Node and on Deno; a user's
 * store runs the conformance suite of `effect-waypoint/testing` under vitest; and a TypeScript program type-checks
 * against the packed declarations. This fails if the README's install line does not install (a peer range npm
 * refuses), if an entry point is TypeScript or needs a package its line does not install, or if the declarations do
 * not resolve.
 */
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"

const root = new URL("../../", import.meta.url).pathname
const databaseUrl = process.env.DATABASE_URL

/** The README's `npm install ...` lines that name the package or its peers, in order. */
const readmeInstallLines = (readme: string): ReadonlyArray<string> =>
  [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .flatMap((match) => (match[1] ?? "").split("\n"))
    .map((line) => line.trim())
    .filter((line) => /^npm install (--save-dev )?[^&;|]*$/.test(line) && !line.includes("&&"))

let folder = ""
let serverUrl: string | undefined

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), "waypoint-package-"))
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", folder], { cwd: root, encoding: "utf8" })
  ) as Array<{ readonly filename: string }>
  const tarball = join(folder, packed[0]?.filename ?? "")
  const lines = readmeInstallLines(await readFile(join(root, "README.md"), "utf8"))
  assert.deepStrictEqual(
    lines.map((line) => line.split(" ").slice(0, 3).join(" ")),
    ["npm install effect-waypoint", "npm install --save-dev"],
    "the README's install lines"
  )
  for (const line of lines) {
    const command = line.replace(/(?<=^npm install )effect-waypoint\b/, tarball)
    const result = spawnSync("sh", ["-c", `${command} --no-audit --no-fund`], { cwd: folder, encoding: "utf8" })
    assert.strictEqual(result.status, 0, `${line}\n${result.stdout}${result.stderr}`)
  }
  if (databaseUrl !== undefined) serverUrl = await Effect.runPromise(TestDatabase.create(databaseUrl))
}, 300_000)

afterAll(async () => {
  if (databaseUrl !== undefined && serverUrl !== undefined) {
    await Effect.runPromise(TestDatabase.drop(databaseUrl, serverUrl))
  }
  await rm(folder, { recursive: true, force: true })
})

/** Runs a task through each entry point; prints one line per store or adapter. */
const consumer = (argv: string) => `import { Effect, Schema } from "effect"
import { LanguageModel } from "effect/ai"
import { MemoryStore, MemoryTaskStore, Runtime, task } from "effect-waypoint"
import { PgliteStore, PostgresStore } from "effect-waypoint/postgres"
import { makeApp } from "effect-waypoint/http"
import { ModelCalls, ScriptedModel } from "effect-waypoint/ai"
import { WaypointTest } from "effect-waypoint/testing/kit"
const [dataDir, serverUrl] = ${argv}
const hello = task({ name: "hello", input: Schema.String, output: Schema.String }, (name) => Effect.succeed("hello " + name))
const run = (layer) =>
  Effect.runPromise(Effect.flatMap(Runtime.make({}), (runtime) => runtime.run(hello, "npm")).pipe(Effect.scoped, Effect.provide(layer)))
console.log("memory: " + (await run(MemoryTaskStore.layer)))
console.log("pglite: " + (await run(PgliteStore.layer({ dataDir }))))
if (serverUrl) console.log("server: " + (await run(PostgresStore.layer({ url: serverUrl }))))
const viaHttp = Effect.gen(function* () {
  const runtime = yield* Runtime.make({})
  const app = yield* makeApp({ runtime, tasks: [hello] })
  const started = yield* Effect.promise(async () => (await app.request("/tasks/hello", { method: "POST", body: JSON.stringify("http"), headers: { "content-type": "application/json" } })).json())
  return yield* runtime.handle(hello, started.id).await
}).pipe(Effect.scoped, Effect.provide(MemoryTaskStore.layer))
console.log("http: " + (await Effect.runPromise(viaHttp)))
const ask = task({ name: "ask", input: Schema.String, output: Schema.String }, (question) =>
  Effect.map(LanguageModel.generateText({ prompt: question }), (response) => response.text))
const viaModel = Effect.flatMap(Runtime.make({ plugins: [ModelCalls.make()] }), (runtime) => runtime.run(ask, "hi")).pipe(
  Effect.scoped, Effect.provide(ScriptedModel.layer([{ text: "hello model" }])), Effect.provide(MemoryStore.layer))
console.log("ai: " + (await Effect.runPromise(viaModel)))
const viaKit = Effect.gen(function* () {
  const test = yield* WaypointTest.make({ tasks: [hello] })
  return yield* (yield* test.submit(hello, "kit")).await
}).pipe(Effect.scoped, Effect.provide(WaypointTest.layer))
console.log("kit: " + (await Effect.runPromise(viaKit)))
`

const expected = (name: string) => [
  `memory: hello ${name}`,
  `pglite: hello ${name}`,
  ...(databaseUrl === undefined ? [] : [`server: hello ${name}`]),
  "http: hello http",
  "ai: hello model",
  "kit: hello kit"
]

describe("the package, installed with the README's own lines", () => {
  it("runs a task through every entry point, imported by name from JavaScript on Node", async () => {
    const program = join(folder, "consumer.mjs")
    await writeFile(program, consumer("process.argv.slice(2)"))
    const args = [program, join(folder, "data"), ...(serverUrl === undefined ? [] : [serverUrl])]
    const result = spawnSync(process.execPath, args, { cwd: folder, encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), [...expected("npm")])
  }, 120_000)

  it("runs the same under Deno, imported by name from node_modules", async () => {
    const program = join(folder, "deno-consumer.mjs")
    await writeFile(program, consumer("Deno.args"))
    const deno = join(root, "node_modules", ".bin", "deno")
    const args = ["run", "-A", program, join(folder, "deno-data"), ...(serverUrl === undefined ? [] : [serverUrl])]
    const result = spawnSync(deno, args, { cwd: folder, encoding: "utf8" })
    assert.strictEqual(result.status, 0, result.stderr)
    assert.deepStrictEqual(result.stdout.trim().split("\n"), [...expected("npm")])
  }, 120_000)

  it("installs the waypoint command, which migrates a PGlite folder and lists its tasks", async () => {
    const waypoint = join(folder, "node_modules", ".bin", "waypoint")
    const run = (...args: ReadonlyArray<string>) => spawnSync(waypoint, args, { cwd: folder, encoding: "utf8" })
    const help = run("--help")
    assert.strictEqual(help.status, 0, help.stderr)
    assert.include(help.stdout, "tasks")
    const migrated = run("migrate", "--data-dir", join(folder, "cli-data"))
    assert.strictEqual(migrated.status, 0, migrated.stderr)
    const listed = run("tasks", "list", "--json", "--data-dir", join(folder, "cli-data"))
    assert.strictEqual(listed.status, 0, listed.stderr)
    assert.deepStrictEqual(JSON.parse(listed.stdout).items, [])
    assert.strictEqual(run("tasks", "list", "--status", "nonsense", "--data-dir", "x").status, 2)
  }, 120_000)

  it("runs the conformance suite of effect-waypoint/testing under vitest, against a user's store", async () => {
    await writeFile(
      join(folder, "store.test.mjs"),
      `import { MemoryTaskStore } from "effect-waypoint"
import { taskStoreSuite } from "effect-waypoint/testing"
taskStoreSuite("my store", MemoryTaskStore.layer)
`
    )
    const vitest = join(folder, "node_modules", "vitest", "vitest.mjs")
    const result = spawnSync(process.execPath, [vitest, "run", "store.test.mjs"], {
      cwd: folder,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" }
    })
    assert.strictEqual(result.status, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /Tests\s+\S*\d+ passed/)
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
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
    const result = spawnSync(process.execPath, [tsc, "-p", join(folder, "tsconfig.json")], {
      cwd: folder,
      encoding: "utf8"
    })
    assert.strictEqual(result.status, 0, result.stdout + result.stderr)
    // the declarations came from the package's dist, not from its sources
    const manifest = JSON.parse(await readFile(join(folder, "node_modules", "effect-waypoint", "package.json"), "utf8"))
    assert.strictEqual(manifest.exports["."].types, "./dist/index.d.ts")
    // effect is a peer: the program and the package share the user's one copy (two copies break services and fibers)
    assert.strictEqual(manifest.dependencies?.effect, undefined)
    assert.isString(manifest.peerDependencies?.effect)
    assert.isFalse(existsSync(join(folder, "node_modules", "effect-waypoint", "node_modules", "effect")))
  }, 120_000)
})
