import { MemoryStore, MemoryTaskStore } from "../../src/stores/index.ts"
import { checkpointSuite, runTreeStoreSuite, taskStoreSuite } from "../../src/testing.ts"

taskStoreSuite("memory", MemoryTaskStore.layer)
checkpointSuite("memory", MemoryStore.layer)
runTreeStoreSuite("memory", MemoryStore.layer)
