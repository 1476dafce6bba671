/**
 * The driver under the `Db`, for the hot paths (claim, checkpoint, heartbeat, finish, ...): a statement is written
 * once with drizzle, rendered to text on its first run, and run as a named prepared statement on the raw client,
 * without the query builder or drizzle's session in between (0.3-0.45 ms less a call, measured here).
 */
import type { PGlite } from "@electric-sql/pglite"
import { Context, type Effect } from "effect"
import type postgres from "postgres"
import type { StoreError } from "../errors.ts"
import { attempt } from "./internal/attempt.ts"
import { fillPlaceholders, PgDialect, type SQLWrapper } from "./internal/drizzle.ts"
import { runPglite } from "./internal/pgliteRun.ts"
import { runPostgres } from "./internal/postgresRun.ts"

/** Rows keyed by column name; int8 reads as a number and jsonb as parsed JSON (read it as `::text`) on both drivers. */
export type Rows = ReadonlyArray<Record<string, unknown>>

/** One prepared statement: the values of its placeholders in, its rows out. */
export type Statement = (values?: Record<string, unknown>) => Effect.Effect<Rows, StoreError>

/** Runs SQL text with positional parameters on the driver itself, as a named prepared statement. */
export type Run = (text: string, params: ReadonlyArray<unknown>) => Promise<Rows>

// Renders drizzle `sql` to text and parameters, as both drivers' drizzle sessions do (no casing option is used).
const dialect = new PgDialect()

/**
 * Prepares statements written with drizzle (`sql` or a query builder, placeholders by name). Name result columns as
 * the caller reads them (`sql\`...\`.as("camelCase")`): rows are not mapped. On postgres.js a statement runs as
 * `unsafe(text, params, { prepare: true })`, parsed once per pooled connection (`internal/postgresRun.ts`); on PGlite,
 * through its wire protocol (`internal/pgliteRun.ts`).
 */
export class Driver extends Context.Service<
  Driver,
  {
    /** Prepares `query` for `operation`, whose name its `StoreError`s carry; nothing is sent before the first run. */
    readonly prepare: (operation: string, query: SQLWrapper) => Statement
  }
>()("waypoint/stores/postgres/Driver") {
  /** The driver of a PGlite client. */
  static readonly pglite = (client: PGlite): Driver["Service"] => Driver.of({ prepare: preparer(runPglite(client)) })
  /** The driver of a postgres.js client (or pool). */
  static readonly postgres = (client: postgres.Sql): Driver["Service"] =>
    Driver.of({ prepare: preparer(runPostgres(client)) })
  /** The driver over a `Run`. */
  static readonly make = (run: Run): Driver["Service"] => Driver.of({ prepare: preparer(run) })
}

// A statement is rendered on its first run, not when prepared: a store prepares every statement it may run when it
// opens, and rendering them all cost several milliseconds of each open (of a restarted worker's recovery).
const preparer =
  (run: Run) =>
  (operation: string, query: SQLWrapper): Statement => {
    let rendered: { readonly sql: string; readonly params: Array<unknown> } | undefined
    return (values = {}) =>
      attempt(operation, () => {
        rendered ??= dialect.sqlToQuery(query.getSQL())
        return run(rendered.sql, fillPlaceholders(rendered.params, values))
      })
  }
