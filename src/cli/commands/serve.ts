/**
 * `waypoint serve`: the HTTP adapter (`makeApp`) over a store, for dashboards and for `waypoint` commands on other
 * machines. It runs no task of its own: it lists, reads and steers the tasks workers run. SIGINT or SIGTERM closes
 * it gracefully (in-flight requests end, event streams close). It keeps a `StateManager` over the store's
 * `StorageBackend`, so the run checkpoints routes (`/tasks/{id}/tree/checkpoints`) answer.
 */
import process from "node:process"
import { Config, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { UsageError } from "../errors.ts"
import { line } from "../output.ts"
import { storeFlags, target, withRuntime, withStores } from "../store.ts"

export const serve = Command.make(
  "serve",
  {
    ...storeFlags,
    port: Flag.Int("port").pipe(Flag.withDescription("The port to listen on (0: a free one)"), Flag.withDefault(8080)),
    host: Flag.String("host").pipe(
      Flag.withDescription("The address to listen on (0.0.0.0: every interface)"),
      Flag.withDefault("127.0.0.1")
    ),
    token: Flag.String("token").pipe(
      Flag.withDescription("A bearer token every request but /health must carry (default: WAYPOINT_TOKEN)"),
      Flag.withFallbackConfig(Config.String("WAYPOINT_TOKEN")),
      Flag.optional
    )
  },
  Effect.fn("waypoint.serve")(function* (input) {
    const store = yield* target(input)
    if (input.port < 0 || input.port > 65535) {
      return yield* new UsageError({ reason: `--port must be 0 to 65535, got ${input.port}` })
    }
    yield* withStores(
      store,
      { migrate: true },
      withRuntime((runtime) =>
        Effect.gen(function* () {
          const http = yield* Effect.promise(() => import("../../http/index.ts"))
          const { StateManager } = yield* Effect.promise(() => import("../../plugins/snapshots/index.ts"))
          const stateManager = yield* Effect.provide(Effect.service(StateManager), StateManager.layer())
          const app = yield* http.makeApp({
            runtime,
            tasks: [],
            stateManager,
            auth: Option.isSome(input.token) ? { bearer: input.token.value } : undefined
          })
          const serveOn = "Deno" in globalThis ? http.serveDeno : http.serveNode
          const server = yield* serveOn(app, { port: input.port, hostname: input.host })
          yield* line(`serving ${server.url} (pid ${process.pid})`)
          return yield* Effect.never
        })
      )
    )
  })
).pipe(Command.withDescription("Serve the HTTP API and the dashboard (/ui) over the store"))
