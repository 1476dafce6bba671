/**
 * `effect-waypoint/postgres`: the stores on PostgreSQL, embedded (PGlite) or on a server (postgres.js). Kept apart
 * from the core entry point so that drizzle and the drivers load only when used.
 */
export * from "./stores/postgres/index.ts"
