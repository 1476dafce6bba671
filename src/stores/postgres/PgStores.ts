/**
 * Every store contract implemented on PostgreSQL, over one shared `Db`: the PGlite and the server layers provide
 * the same stores from the same queries, and differ only in the `Db` they build.
 */
import { Layer } from "effect"
import type { BudgetStore } from "../BudgetStore.ts"
import type { ProgressStore } from "../ProgressStore.ts"
import type { RateLimitStore } from "../RateLimitStore.ts"
import type { RunTreeStore } from "../RunTreeStore.ts"
import type { SnapshotStore } from "../SnapshotStore.ts"
import type { StateStore } from "../StateStore.ts"
import type { StepStore } from "../StepStore.ts"
import type { StorageBackend } from "../StorageBackend.ts"
import type { TaskStore } from "../TaskStore.ts"
import type { Db } from "./Db.ts"
import type { Driver } from "./Driver.ts"
import * as PgBudgetStore from "./PgBudgetStore.ts"
import * as PgProgressStore from "./PgProgressStore.ts"
import * as PgRateLimitStore from "./PgRateLimitStore.ts"
import * as PgRunTreeStore from "./PgRunTreeStore.ts"
import * as PgSnapshotStore from "./PgSnapshotStore.ts"
import * as PgStateStore from "./PgStateStore.ts"
import * as PgStepStore from "./PgStepStore.ts"
import * as PgStorageBackend from "./PgStorageBackend.ts"
import * as PgTaskStore from "./PgTaskStore.ts"

/** What every PostgreSQL store layer provides. */
export type Stores =
  | TaskStore
  | StateStore
  | StepStore
  | SnapshotStore
  | ProgressStore
  | StorageBackend
  | RunTreeStore
  | BudgetStore
  | RateLimitStore

/**
 * Every store over the `Db` in context, as `MemoryStore.layer` provides them in memory. Built anew each time, never
 * taken from Effect's layer memo: this value is shared by every store layer, so a memoised build would hand a store
 * opened inside another (another folder, another server) the outer one's stores.
 */
export const layer: Layer.Layer<Stores, never, Db | Driver> = Layer.fresh(
  Layer.mergeAll(
    PgTaskStore.layer,
    PgStateStore.layer,
    PgStepStore.layer,
    PgSnapshotStore.layer,
    PgProgressStore.layer,
    PgStorageBackend.layer,
    PgRunTreeStore.layer,
    PgBudgetStore.layer,
    PgRateLimitStore.layer
  )
)
