/**
 * Every store contract implemented on PostgreSQL, over one shared `Db`: the PGlite and the server layers provide
 * the same stores from the same queries, and differ only in the `Db` they build.
 */
import type { Layer } from "effect"
import type { TaskStore } from "../TaskStore.ts"
import type { Db } from "./Database.ts"
import * as PgTaskStore from "./PgTaskStore.ts"

/** The stores over a `Db`; each further contract (state, steps, signals, snapshots) is merged in here. */
export const layer: Layer.Layer<TaskStore, never, Db> = PgTaskStore.layer
