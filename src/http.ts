/**
 * `effect-waypoint/http`: a Hono app over a Runtime, and Node and Deno servers that close gracefully. Kept apart
 * from the core entry point so that Hono loads only when used.
 */
export * from "./http/index.ts"
