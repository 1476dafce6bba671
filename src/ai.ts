/**
 * `effect-waypoint/ai`: durable model calls on Effect AI. The `ModelCalls` plugin records each call of a task's body,
 * waits for tool approvals without a fiber, keeps each call's usage, and holds usage budgets and per-key limits across
 * processes; `ScriptedModel` answers offline from a script. An entry of its own: a program that makes no model call
 * does not load `effect/ai`.
 */
export * from "./plugins/models/index.ts"
