/** Progress reporting for tasks: the `Progress` service, its plugin and the Logger handler. */
export { InvalidProgress, LogDataNotSerializable } from "./errors.ts"
export type { ProgressEvent, ProgressHandler, ProgressSettings } from "./Progress.ts"
export { Progress } from "./Progress.ts"
export type { ProgressPluginOptions } from "./ProgressPlugin.ts"
export * as ProgressPlugin from "./ProgressPlugin.ts"
