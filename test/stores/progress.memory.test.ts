import * as MemoryProgressStore from "../../src/stores/memory/MemoryProgressStore.ts"
import { progressStoreSuite } from "./conformance/progressStoreSuite.ts"

progressStoreSuite("memory", MemoryProgressStore.layer)
