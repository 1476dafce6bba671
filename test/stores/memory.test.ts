import { MemoryStore, MemoryTaskStore } from "../../src/stores/index.ts"
import { checkpointSuite } from "./conformance/checkpointSuite.ts"
import { taskStoreSuite } from "./conformance/taskStoreSuite.ts"

taskStoreSuite("memory", MemoryTaskStore.layer)
checkpointSuite("memory", MemoryStore.layer)
