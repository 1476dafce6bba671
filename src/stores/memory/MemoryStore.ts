/**
 * Every store contract in this process's memory, from one layer: as fast as maps, gone with the process.
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
import * as MemoryBudgetStore from "./MemoryBudgetStore.ts"
import * as MemoryProgressStore from "./MemoryProgressStore.ts"
import * as MemoryRateLimitStore from "./MemoryRateLimitStore.ts"
import * as MemoryRunTreeStore from "./MemoryRunTreeStore.ts"
import * as MemorySnapshotStore from "./MemorySnapshotStore.ts"
import * as MemoryStateStore from "./MemoryStateStore.ts"
import * as MemoryStepStore from "./MemoryStepStore.ts"
import * as MemoryStorageBackend from "./MemoryStorageBackend.ts"
import * as MemoryTaskStore from "./MemoryTaskStore.ts"

/**
 * Fresh, empty memory stores for each build of the layer. Effect builds one layer value once per program (its layer
 * memo): this value provided again inside a program that provides it is the same stores; `Layer.fresh(MemoryStore.layer)`
 * is another, empty set. Its parts are never taken from the memo: a program that provides `MemoryTaskStore.layer`
 * alone does not lend that task store to `MemoryStore.layer` provided inside it.
 */
export const layer: Layer.Layer<
  | TaskStore
  | StateStore
  | StepStore
  | SnapshotStore
  | ProgressStore
  | StorageBackend
  | RunTreeStore
  | BudgetStore
  | RateLimitStore
> =
  // suspend: memoised itself (one value, one set of stores), while `fresh` builds its parts with a memo of their own
  Layer.suspend(() =>
    Layer.fresh(
      // Run trees are read from these very stores.
      MemoryRunTreeStore.layer.pipe(
        Layer.provideMerge(
          Layer.mergeAll(
            // The step store checks checkpoints' tokens against this task store and writes their state to this state
            // store.
            MemoryStepStore.layer.pipe(Layer.provideMerge(Layer.merge(MemoryTaskStore.layer, MemoryStateStore.layer))),
            MemorySnapshotStore.layer,
            MemoryProgressStore.layer,
            MemoryStorageBackend.layer,
            MemoryBudgetStore.layer,
            MemoryRateLimitStore.layer
          )
        )
      )
    )
  )
