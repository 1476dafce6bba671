import { MemoryStore, MemoryTaskStore } from "../../src/stores/index.ts"
import {
  budgetStoreSuite,
  checkpointSuite,
  rateLimitStoreSuite,
  runTreeStoreSuite,
  taskStoreSuite
} from "../../src/testing.ts"

taskStoreSuite("memory", MemoryTaskStore.layer)
checkpointSuite("memory", MemoryStore.layer)
runTreeStoreSuite("memory", MemoryStore.layer)
budgetStoreSuite("memory", MemoryStore.layer)
rateLimitStoreSuite("memory", MemoryStore.layer)
