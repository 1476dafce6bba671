/**
 * The floors, with the raw driver (postgres.js, which prepares its tagged templates) on a database of its own: a
 * single-row INSERT of 200 B jsonb, `SELECT 1`, and one commit (a one-row INSERT on a connection of its own, which
 * autocommits: the flush a durable write waits for).
 */
import postgres from "postgres"
import { type BenchContext, freshDatabase, perOp, type Scenario, type System } from "../scenario.ts"

const payload = JSON.stringify({ note: "x".repeat(186) }) // 200 bytes of JSON

const scenarios = ({ adminUrl }: BenchContext): ReadonlyArray<Scenario> => {
  let drop = async () => {}
  let sql: postgres.Sql | undefined
  let commitSql: postgres.Sql | undefined
  let users = 0
  // The three scenarios share one database: the first setup makes it, the last teardown drops it.
  const setup = async () => {
    if (users++ > 0) return
    const db = await freshDatabase(adminUrl, "cmp_raw")
    drop = db.drop
    sql = postgres(db.url, { max: 1, onnotice: () => {} })
    commitSql = postgres(db.url, { max: 1, onnotice: () => {} })
    await sql`create table raw_insert (id serial primary key, data jsonb not null)`
    await sql`create table raw_commit (id serial primary key, data jsonb not null)`
  }
  const teardown = async () => {
    if (--users > 0) return
    await sql?.end()
    await commitSql?.end()
    await drop()
  }
  const scenario = (name: Scenario["name"], once: () => Promise<unknown>): Scenario => ({
    name,
    setup,
    teardown,
    run: (n) => perOp(n, once)
  })
  return [
    scenario("raw.insert", () => sql!`insert into raw_insert (data) values (${payload}::jsonb)`),
    scenario("raw.select1", () => sql!`select 1`),
    scenario("raw.commit", () => commitSql!`insert into raw_commit (data) values (${"{}"}::jsonb)`)
  ]
}

export const raw: System = { name: "raw", scenarios }
