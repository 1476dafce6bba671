/** The conformance suites of every store contract. */
export { checkpointSuite } from "./checkpointSuite.ts"
export { progressStoreSuite } from "./progressStoreSuite.ts"
export { snapshotStoreSuite } from "./snapshotStoreSuite.ts"
export { stateStoreSuite } from "./stateStoreSuite.ts"
export { stepStoreSuite } from "./stepStoreSuite.ts"
export { storageBackendSuite } from "./storageBackendSuite.ts"
export { taskStoreSuite } from "./taskStoreSuite.ts"
