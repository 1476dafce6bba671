/**
 * drizzle-orm, and the drivers it wraps, loaded from their CommonJS builds. Node's ESM loader parses a package's
 * `exports` map again for every file it loads from that package (Node 22 to 24), and drizzle-orm's map is 175 KB:
 * importing its ESM `pg-core` took 1.0 s and 275 MB here, requiring its CommonJS build 0.07 s and 70 MB. So every
 * module of the stores takes drizzle's values from here; types still come from `import type`.
 * The drivers load through the same `require`, so that drizzle's driver and the store share one copy of each.
 */
import { createRequire } from "node:module"
import type postgres from "postgres"

export type { SQL, SQLWrapper } from "drizzle-orm"
export type {
  AnyPgColumn,
  PgColumn,
  PgDatabase,
  PgQueryResultHKT,
  PgSelect,
  PgUpdateSetSource,
  SelectedFields,
  SelectedFieldsFlat
} from "drizzle-orm/pg-core"

const load = createRequire(import.meta.url)

const orm: typeof import("drizzle-orm") = load("drizzle-orm")
const pgCore: typeof import("drizzle-orm/pg-core") = load("drizzle-orm/pg-core")

export const {
  and,
  asc,
  desc,
  eq,
  fillPlaceholders,
  getTableColumns,
  gt,
  gte,
  inArray,
  isNotNull,
  isNull,
  lt,
  ne,
  notInArray,
  or,
  sql,
  TransactionRollbackError
} = orm

export const {
  alias,
  bigint,
  bigserial,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  jsonb,
  PgDialect,
  pgSchema,
  primaryKey,
  text,
  uniqueIndex,
  uuid
} = pgCore

/** The packages a store loads when it is built (never at import), each from its CommonJS build. */
export interface Lazy {
  readonly "@electric-sql/pglite": typeof import("@electric-sql/pglite")
  readonly postgres: typeof postgres
  readonly "drizzle-orm/pglite": typeof import("drizzle-orm/pglite")
  readonly "drizzle-orm/pglite/migrator": typeof import("drizzle-orm/pglite/migrator")
  readonly "drizzle-orm/postgres-js": typeof import("drizzle-orm/postgres-js")
  readonly "drizzle-orm/postgres-js/migrator": typeof import("drizzle-orm/postgres-js/migrator")
  readonly "drizzle-orm/migrator": typeof import("drizzle-orm/migrator")
}

/** Requires one of the `Lazy` packages; a promise, so that a missing package is a rejection `loadDriver` reads. */
export const loadLazy = <K extends keyof Lazy>(specifier: K): Promise<Lazy[K]> =>
  Promise.resolve().then(() => load(specifier))
