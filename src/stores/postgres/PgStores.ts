/**
 * Every store contract implemented on PostgreSQL, over one shared `Db`: the PGlite and the server layers provide
 * the same stores from the same queries, and differ only in the `Db` they build.
 */
import { Layer } from "effect"
import type { StateStore } from "../StateStore.ts"
import type { StepStore } from "../StepStore.ts"
import type { TaskStore } from "../TaskStore.ts"
import type { Db } from "./Database.ts"
import * as PgStateStore from "./PgStateStore.ts"
import * as PgStepStore from "./PgStepStore.ts"
import * as PgTaskStore from "./PgTaskStore.ts"

/** The stores over a `Db`; each further contract (snapshots) is merged in here. */
export const layer: Layer.Layer<TaskStore | StateStore | StepStore, never, Db> = Layer.mergeAll(
  PgTaskStore.layer,
  PgStateStore.layer,
  PgStepStore.layer
)
