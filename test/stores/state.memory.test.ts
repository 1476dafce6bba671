import { MemoryStateStore } from "../../src/stores/index.ts"
import { stateStoreSuite } from "./conformance/stateStoreSuite.ts"

stateStoreSuite("memory", MemoryStateStore.layer)
