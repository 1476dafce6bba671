/**
 * The README's store layers and conformance-suite call, as written there, type-checked by `npm run typecheck` (the
 * layers connect only when provided; the stores' own tests run them).
 */
import { MemoryTaskStore } from "../../src/index.ts"
import { PgliteStore, PostgresStore } from "../../src/postgres.ts"
import { taskStoreSuite } from "../../src/testing.ts"

const embedded = PgliteStore.layer({ dataDir: ".waypoint/data" }) // created with its parents if missing
const server = PostgresStore.layer({
  url: process.env.DATABASE_URL ?? "postgres://localhost/app",
  maxConnections: 20, // the pool's size (default 10); wake-ups listen on one more connection
  connection: { ssl: "require" } // postgres.js options: ssl, timeouts, connection parameters
})

const MyTaskStore = MemoryTaskStore
/** Registers the suite when called (from a test file); here only its types are checked. */
export const registerSuite = () => {
  taskStoreSuite("my store", MyTaskStore.layer) // a fresh layer per test
}

export const layers = [embedded, server]
