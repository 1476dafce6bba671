import * as MemoryProgressStore from "../../src/stores/memory/MemoryProgressStore.ts"
import { progressStoreSuite } from "../../src/testing.ts"

progressStoreSuite("memory", MemoryProgressStore.layer)
