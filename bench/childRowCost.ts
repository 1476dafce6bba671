/**
 * The floor under the children's floor: what PostgreSQL itself pays for a child's row against a top-level task's, with
 * no Waypoint code and no client round trip. One `DO` block writes `n` rows as the store does (a batched INSERT of 64
 * rows created claimed, then a batched UPDATE of 64 that ends them), as top-level tasks or as children of one parent,
 * in alternating rounds after a vacuum; the medians of each write, and their ratio. A child's row is in one index a
 * top-level task's is not (its parent's children, unique by key), and a task's end is not a HOT update (its status is
 * indexed): both writes pay for it.
 */
import { sql } from "drizzle-orm"
import { Effect } from "effect"
import { Db, execute } from "../src/stores/postgres/Db.ts"

const median = (xs: ReadonlyArray<number>): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

/** One block: its create and end times in ms, returned as its one row. */
const block = (batches: number, asChildren: boolean) =>
  sql.raw(`
    with timed as (select waypoint_bench_row_cost(${batches}, ${asChildren}) as times)
    select (times).create_ms as create_ms, (times).end_ms as end_ms from timed`)

const install = sql.raw(`
  create or replace function waypoint_bench_row_cost(batches int, as_children boolean, out create_ms float8,
    out end_ms float8) language plpgsql as $$
  declare
    t0 timestamptz; t1 timestamptz; parent text := gen_random_uuid()::text; base text := gen_random_uuid()::text;
  begin
    if as_children then
      insert into waypoint.tasks (id, name, input, status, attempt, created_at, updated_at)
        values (parent, 'parent', '0', 'running', 1, 0, 0);
    end if;
    t0 := clock_timestamp();
    for b in 0..batches - 1 loop
      insert into waypoint.tasks (id, name, input, status, attempt, parent_id, child_key, lease_owner, lease_expires_at,
          fencing_token, created_at, updated_at, started_at)
        select base || '-' || lpad((b * 64 + k)::text, 8, '0'), 'trivial', to_jsonb(b * 64 + k), 'running', 1,
          case when as_children then parent end, case when as_children then 'c' || (b * 64 + k) end, 'bench',
          9e15::bigint, 1, b * 64 + k, 0, 0
        from generate_series(0, 63) as k
        on conflict do nothing;
    end loop;
    t1 := clock_timestamp();
    for b in 0..batches - 1 loop
      update waypoint.tasks
        set status = 'completed', output = to_jsonb(1), lease_owner = null, lease_expires_at = null, finished_at = 1,
          updated_at = 1
        where id in (select base || '-' || lpad((b * 64 + k)::text, 8, '0') from generate_series(0, 63) as k);
    end loop;
    create_ms := extract(epoch from t1 - t0) * 1000;
    end_ms := extract(epoch from clock_timestamp() - t1) * 1000;
  end $$`)

/** Prints PostgreSQL's own cost of `n` rows (rounded down to batches of 64), top-level against children. */
export const childRowCost = (n: number, rounds: number) =>
  Effect.gen(function* () {
    const db = yield* Db
    yield* execute(db, "install", install)
    const batches = Math.max(1, Math.floor(n / 64))
    const top = { create: [] as Array<number>, end: [] as Array<number> }
    const kid = { create: [] as Array<number>, end: [] as Array<number> }
    for (let round = 0; round < rounds; round++) {
      for (const [into, asChildren] of [
        [top, false],
        [kid, true]
      ] as const) {
        yield* execute(db, "vacuum", sql`vacuum waypoint.tasks`)
        const [row] = yield* execute(db, "rows", block(batches, asChildren))
        into.create.push(Number(row?.create_ms))
        into.end.push(Number(row?.end_ms))
      }
    }
    yield* execute(db, "uninstall", sql.raw("drop function waypoint_bench_row_cost"))
    const part = (name: "create" | "end") =>
      `${name} ${median(top[name]).toFixed(0)} / ${median(kid[name]).toFixed(0)} ms (${(
        median(kid[name]) / median(top[name])
      ).toFixed(2)}x)`
    console.log(
      `  PostgreSQL alone, ${batches * 64} rows, top-level / children (no Waypoint code): ${part("create")}, ${part("end")}`
    )
  })
