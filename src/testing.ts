/**
 * `effect-waypoint/testing`: the conformance suites every store of Waypoint passes, for a store of your own. Each
 * suite is a vitest `describe` (from `@effect/vitest`, an optional peer dependency) that runs the contract against
 * a fresh layer per test:
 *
 * ```ts
 * import { taskStoreSuite } from "effect-waypoint/testing"
 * taskStoreSuite("my store", MyTaskStore.layer)
 * ```
 */
export * from "./testing/index.ts"
