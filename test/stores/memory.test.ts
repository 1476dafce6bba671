import { MemoryTaskStore } from "../../src/stores/index.ts"
import { taskStoreSuite } from "./conformance/taskStoreSuite.ts"

taskStoreSuite("memory", MemoryTaskStore.layer)
