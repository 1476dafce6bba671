/** The test kit for your own tasks: `WaypointTest.layer`, `WaypointTest.make`, crash points. Loads no test runner. */
export type { CrashPoint } from "./CrashPoint.ts"
export { SimulatedCrash, TaskStalled } from "./errors.ts"
export * as WaypointTest from "./WaypointTest.ts"
