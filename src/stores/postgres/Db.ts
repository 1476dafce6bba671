/**
 * The drizzle database the PostgreSQL stores write their queries against, whichever driver is under it (PGlite or
 * postgres.js, chosen by `PgliteDb.ts` or `PostgresDb.ts`).
 */

import { Context, Effect, Predicate } from "effect"
import { StoreError } from "../errors.ts"
import { attempt } from "./internal/attempt.ts"
import type { PgDatabase, PgQueryResultHKT, SQL } from "./internal/drizzle.ts"
import type * as schema from "./schema.ts"

/** A drizzle database over either driver; queries are written once against it. */
export type Database = PgDatabase<PgQueryResultHKT, typeof schema>

/** The database the PostgreSQL stores run their queries on. */
export class Db extends Context.Service<Db, Database>()("waypoint/stores/postgres/Db") {}

/** Runs raw SQL and returns its rows, whichever driver answers (postgres.js gives an array, PGlite `{ rows }`). */
export const execute = (
  db: Database,
  operation: string,
  query: SQL
): Effect.Effect<ReadonlyArray<Record<string, unknown>>, StoreError> =>
  Effect.flatMap(
    attempt(operation, () => db.execute(query)),
    (result: unknown) => {
      if (Array.isArray(result)) return Effect.succeed(result)
      if (Predicate.hasProperty(result, "rows") && Array.isArray(result.rows)) return Effect.succeed(result.rows)
      return Effect.fail(new StoreError({ operation, cause: new Error("the driver returned no rows array") }))
    }
  )
