/**
 * Every store contract in this process's memory, from one layer: as fast as maps, gone with the process.
 */
import { Layer } from "effect"
import type { ProgressStore } from "../ProgressStore.ts"
import type { SnapshotStore } from "../SnapshotStore.ts"
import type { StateStore } from "../StateStore.ts"
import type { StepStore } from "../StepStore.ts"
import type { StorageBackend } from "../StorageBackend.ts"
import type { TaskStore } from "../TaskStore.ts"
import * as MemoryProgressStore from "./MemoryProgressStore.ts"
import * as MemorySnapshotStore from "./MemorySnapshotStore.ts"
import * as MemoryStateStore from "./MemoryStateStore.ts"
import * as MemoryStepStore from "./MemoryStepStore.ts"
import * as MemoryStorageBackend from "./MemoryStorageBackend.ts"
import * as MemoryTaskStore from "./MemoryTaskStore.ts"

/** Fresh, empty memory stores for each build of the layer. */
export const layer: Layer.Layer<TaskStore | StateStore | StepStore | SnapshotStore | ProgressStore | StorageBackend> =
  Layer.mergeAll(
    // The step store checks checkpoints' tokens against this task store and writes their state to this state store.
    MemoryStepStore.layer.pipe(Layer.provideMerge(Layer.merge(MemoryTaskStore.layer, MemoryStateStore.layer))),
    MemorySnapshotStore.layer,
    MemoryProgressStore.layer,
    MemoryStorageBackend.layer
  )
