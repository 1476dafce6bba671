import { MemoryStore, MemoryTaskStore } from "../../src/stores/index.ts"
import { checkpointSuite, taskStoreSuite } from "../../src/testing.ts"

taskStoreSuite("memory", MemoryTaskStore.layer)
checkpointSuite("memory", MemoryStore.layer)
