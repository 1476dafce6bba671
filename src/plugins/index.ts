/** Plugins that give tasks typed services, and the pieces they share. */
export * from "./snapshots/index.ts"
export * from "./state/index.ts"
export * from "./versioning/index.ts"
