/**
 * Waypoint: durable, stateful, resumable tasks on Effect. This module is the public API of the core; it depends
 * on `effect` only.
 */
export * from "./plugins/index.ts"
export * from "./runtime/index.ts"
export * from "./stores/index.ts"
