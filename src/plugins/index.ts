/** Plugins that give tasks typed services, and the pieces they share. */

export type { ProgressEvent, ProgressHandler, ProgressPluginOptions, ProgressSettings } from "./progress/index.ts"
export { InvalidProgress, LogDataNotSerializable, Progress, ProgressPlugin } from "./progress/index.ts"
export * from "./snapshots/index.ts"
export * from "./state/index.ts"
export * from "./versioning/index.ts"
