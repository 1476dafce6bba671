import { MemoryStepStore } from "../../src/stores/index.ts"
import { stepStoreSuite } from "../../src/testing.ts"

stepStoreSuite("memory", MemoryStepStore.layer)
