/**
 * The README's HTTP programs, as written there, type-checked by `npm run typecheck` (they serve forever, so no test
 * runs them; the mounted adapter is exercised in test/readme.test.ts).
 */
import { Config, Effect, Schema } from "effect"
import { Hono } from "hono"
import { makeApp, serveNode } from "../../src/http.ts"
import { MemoryStore, ProgressPlugin, Runtime, SnapshotPlugin, StatePlugin, task } from "../../src/index.ts"

const publish = task({ name: "publish", input: Schema.String }, (draft) => Effect.succeed(draft))

// Standalone: the adapter is the whole server.
const standalone = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make(), SnapshotPlugin.make(), ProgressPlugin.make()] })
  // A token no client can send (a space in it, under 16 characters) fails here with InvalidBearerToken.
  const token = yield* Config.String("WAYPOINT_TOKEN") // e.g. the output of: node -p "crypto.randomUUID()"
  const app = yield* makeApp({ runtime, tasks: [publish], auth: { bearer: token } })
  const server = yield* serveNode(app, { port: 8080 })
  yield* Effect.log(`listening on ${server.url}`)
  return yield* Effect.never // closing the scope ends streams and waits for in-flight requests
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

// Inside an existing Hono app: mount it under a prefix.
const site = new Hono()
site.get("/", (c) => c.text("my site"))
const mounted = Effect.gen(function* () {
  const runtime = yield* Runtime.make({ plugins: [StatePlugin.make()] })
  site.route("/waypoint", yield* makeApp({ runtime, tasks: [publish] })) // no `auth`: open to whoever reaches it
  yield* serveNode(site, { port: 8080 }) // or hand `site.fetch` to the server you already run
  return yield* Effect.never
}).pipe(Effect.scoped, Effect.provide(MemoryStore.layer))

export const programs = [standalone, mounted]
