/** Plugins that give tasks typed services, and the pieces they share. */

export * from "./models/index.ts"
export type { ProgressEvent, ProgressHandler, ProgressPluginOptions, ProgressSettings } from "./progress/index.ts"
export { InvalidProgress, LogDataNotSerializable, Progress, ProgressPlugin } from "./progress/index.ts"
export * from "./snapshots/index.ts"
export * from "./state/index.ts"
export * from "./versioning/index.ts"
