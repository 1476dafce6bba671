import { Effect } from "effect"
import * as MemorySnapshotStore from "../../src/stores/memory/MemorySnapshotStore.ts"
import * as MemoryStorageBackend from "../../src/stores/memory/MemoryStorageBackend.ts"
import { SnapshotStore } from "../../src/stores/SnapshotStore.ts"
import { snapshotStoreSuite, storageBackendSuite } from "../../src/testing.ts"

snapshotStoreSuite("memory", MemorySnapshotStore.layer, {
  corrupt: (at, change) => Effect.flatMap(SnapshotStore, (store) => MemorySnapshotStore.corrupt(store, at, change))
})
storageBackendSuite("memory", MemoryStorageBackend.layer)
