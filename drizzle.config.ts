/** drizzle-kit settings: `npx drizzle-kit generate` writes the migrations the PostgreSQL stores apply on open. */
import { defineConfig } from "drizzle-kit"

export default defineConfig({
  dialect: "postgresql",
  schema: "./src/stores/postgres/schema.ts",
  out: "./src/stores/postgres/migrations",
  // must match `migrationsTable` in src/stores/postgres/internal/migrations.ts
  migrations: { schema: "drizzle", table: "__waypoint_migrations" }
})
