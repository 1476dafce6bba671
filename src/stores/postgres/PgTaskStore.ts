/**
 * The `TaskStore` on PostgreSQL (a server or PGlite), assembled from one module per operation under `internal/task/`:
 * `create.ts`, `claim.ts`, `claimChild.ts`, `finish.ts` (with `awaitChildren.ts`), `heartbeat.ts`, `requests.ts`
 * (cancel and pause asked from another process), `idle.ts` (wake, suspend, cancel or hand back a task no attempt
 * runs), `list.ts` (get, list, listSummaries) and `runnable.ts` (which tasks are runnable: listRunnable, awaitWork). A
 * fenced write checks the attempt's token in its own UPDATE, so a stale attempt writes nothing, whichever process it
 * runs in. A child's end reaches its parent through the trigger of migration 0009 (0011), whichever write ends it.
 */
import { Effect, Layer } from "effect"
import { TaskStore } from "../TaskStore.ts"
import type { Db } from "./Db.ts"
import type { Driver } from "./Driver.ts"
import { makeClaim } from "./internal/task/claim.ts"
import { makeClaimChild } from "./internal/task/claimChild.ts"
import { makeTaskContext } from "./internal/task/context.ts"
import { makeCreate } from "./internal/task/create.ts"
import { makeFinish } from "./internal/task/finish.ts"
import { makeHeartbeat } from "./internal/task/heartbeat.ts"
import { makeIdle } from "./internal/task/idle.ts"
import { makeList } from "./internal/task/list.ts"
import { makeRequests } from "./internal/task/requests.ts"
import { makeRunnable } from "./internal/task/runnable.ts"

/** Builds the task store over the shared `Db`; its statements are prepared here, and rendered on their first run. */
export const make = Effect.gen(function* () {
  const context = yield* makeTaskContext
  const claim = yield* makeClaim(context)
  // The per-task operations (create, claim, heartbeat, finish) go untraced: a span costs about as much as a PGlite
  // round trip, and they run several times per task.
  return TaskStore.of({
    create: yield* makeCreate(context),
    claim,
    claimChild: makeClaimChild(context, claim),
    heartbeat: yield* makeHeartbeat(context),
    finish: yield* makeFinish(context),
    ...makeRunnable(context),
    ...makeList(context),
    ...makeRequests(context),
    ...makeIdle(context)
  })
})

/** The task store over the shared `Db`. */
export const layer: Layer.Layer<TaskStore, never, Db | Driver> = Layer.effect(TaskStore, make)
