import postgres from "postgres"
const sql = postgres("postgres://postgres@127.0.0.1:5432/probe_join", { max: 1, onnotice: () => {} })
const N = 600
const now = Date.now()
const row = (id: string, extra: Record<string, unknown>) => ({
  id, name: "t", input: sql.json({}), status: "running", attempt: 1, fencing_token: 1,
  created_at: now, updated_at: now, lease_owner: "me", lease_expires_at: now + 60000,
  parent_id: null, child_key: null, awaited_gen: null, suspend_reason: null, wait_gen: 0, waiting_for: null, ...extra
})
await sql`truncate waypoint.tasks`
const rows: any[] = []
// top-level running tasks
for (let i = 0; i < N; i++) rows.push(row(`top${i}`, {}))
// one big parent waiting for many children (the count, not the wake)
rows.push(row("big", { status: "suspended", suspend_reason: sql.json({ _tag: "WaitingForChildren", mode: "all", total: 1e6, remaining: 1e6 }), wait_gen: 1, waiting_for: 1000000, lease_owner: null, lease_expires_at: null }))
for (let i = 0; i < N; i++) rows.push(row(`cnt${i}`, { parent_id: "big", child_key: `k${i}`, awaited_gen: 1 }))
// parents with one child each (the count and the wake)
for (let i = 0; i < N; i++) {
  rows.push(row(`p${i}`, { status: "suspended", suspend_reason: sql.json({ _tag: "WaitingForChildren", mode: "all", total: 1, remaining: 1 }), wait_gen: 1, waiting_for: 1, lease_owner: null, lease_expires_at: null }))
  rows.push(row(`last${i}`, { parent_id: `p${i}`, child_key: "k", awaited_gen: 1 }))
}
for (let i = 0; i < rows.length; i += 500) await sql`insert into waypoint.tasks ${sql(rows.slice(i, i + 500))}`
await sql`vacuum analyze waypoint.tasks`
const finish = (id: string) => sql.unsafe(
  `update waypoint.tasks set status = 'completed', output = $2::jsonb, lease_owner = null, lease_expires_at = null, finished_at = $3, updated_at = $3 where id = $1 and fencing_token = 1 returning *`,
  [id, "1", Date.now()], { prepare: true })
const t: Record<string, number[]> = { top: [], cnt: [], last: [], select: [] }
for (let i = 0; i < N; i++) {
  for (const [k, id] of [["top", `top${i}`], ["cnt", `cnt${i}`], ["last", `last${i}`]] as const) {
    const s = performance.now(); await finish(id); t[k]!.push(performance.now() - s)
  }
  const s = performance.now(); await sql.unsafe("select 1", [], { prepare: true }); t.select!.push(performance.now() - s)
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(3)
console.log(process.argv[2] ?? "", Object.entries(t).map(([k, v]) => `${k} ${med(v)}`).join("  "))
const [{ n }] = await sql`select count(*)::int n from waypoint.tasks where status = 'pending'`
console.log("woken parents", n)
await sql.end()
