/**
 * `effect-waypoint/testing`: the conformance suites every store of Waypoint passes, for a store of your own. Each
 * suite is a vitest `describe` (from `@effect/vitest`, an optional peer dependency) that runs the contract against
 * a fresh layer per test:
 *
 * ```ts
 * import { taskStoreSuite } from "effect-waypoint/testing"
 * taskStoreSuite("my store", MyTaskStore.layer)
 * ```
 *
 * It also exports `WaypointTest`, the test kit for your own tasks (memory stores, `TestClock`, a crash injector);
 * `effect-waypoint/testing/kit` exports the kit alone and loads no vitest.
 */
export * from "./testing/index.ts"
