import { MemoryStepStore } from "../../src/stores/index.ts"
import { stepStoreSuite } from "./conformance/stepStoreSuite.ts"

stepStoreSuite("memory", MemoryStepStore.layer)
