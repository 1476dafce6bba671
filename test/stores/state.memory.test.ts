import { MemoryStateStore } from "../../src/stores/index.ts"
import { stateStoreSuite } from "../../src/testing.ts"

stateStoreSuite("memory", MemoryStateStore.layer)
