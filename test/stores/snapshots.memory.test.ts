import * as MemorySnapshotStore from "../../src/stores/memory/MemorySnapshotStore.ts"
import * as MemoryStorageBackend from "../../src/stores/memory/MemoryStorageBackend.ts"
import { snapshotStoreSuite } from "./conformance/snapshotStoreSuite.ts"
import { storageBackendSuite } from "./conformance/storageBackendSuite.ts"

snapshotStoreSuite("memory", MemorySnapshotStore.layer)
storageBackendSuite("memory", MemoryStorageBackend.layer)
