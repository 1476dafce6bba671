/**
 * A database of its own for one bench run on a server: created from the admin URL, dropped when the scope closes.
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import postgres from "postgres"

export const freshDatabase = (adminUrl: string) => {
  const name = `wp_bench_${randomBytes(6).toString("hex")}`
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const admin = (statement: string) =>
    Effect.acquireUseRelease(
      Effect.sync(() => postgres(adminUrl, { max: 1, onnotice: () => {} })),
      (sql) => Effect.promise(() => sql.unsafe(statement)),
      (sql) => Effect.promise(() => sql.end())
    )
  return Effect.acquireRelease(Effect.as(admin(`create database ${name}`), url.toString()), () =>
    admin(`drop database if exists ${name} with (force)`)
  )
}
