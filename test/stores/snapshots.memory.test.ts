import * as MemorySnapshotStore from "../../src/stores/memory/MemorySnapshotStore.ts"
import * as MemoryStorageBackend from "../../src/stores/memory/MemoryStorageBackend.ts"
import { snapshotStoreSuite, storageBackendSuite } from "../../src/testing.ts"

snapshotStoreSuite("memory", MemorySnapshotStore.layer)
storageBackendSuite("memory", MemoryStorageBackend.layer)
