/**
 * How the `Driver` runs a statement on postgres.js: `unsafe(text, params, { prepare: true })`, a named prepared
 * statement parsed once per pooled connection. Only types come from `postgres` here: the package loads when a server
 * store is built.
 */
import type postgres from "postgres"
import type { Run } from "../Driver.ts"

/**
 * postgres.js reads int8 as a string; PGlite (and drizzle's `bigint({ mode: "number" })`) as a number. `prepare`
 * false (a pooler that cannot keep prepared statements) sends each statement unnamed.
 */
export const runPostgres =
  (client: postgres.Sql, prepare = true): Run =>
  async (text, params) => {
    const rows = await client.unsafe(text, params as Array<postgres.ParameterOrJSON<never>>, { prepare })
    const int8 = (rows.columns ?? []).filter((column) => column.type === 20).map((column) => column.name)
    if (int8.length === 0) return rows
    for (const row of rows) {
      for (const name of int8) if (typeof row[name] === "string") row[name] = Number(row[name])
    }
    return rows
  }
