import { readFileSync } from "node:fs"
const load = (f) => {
  const p = JSON.parse(readFileSync(f, "utf8"))
  const self = new Map()
  const dt = new Map()
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  for (const n of p.nodes) {
    const t = (dt.get(n.id) ?? 0) / 1000
    const cf = n.callFrame
    const url = cf.url.replace(/.*node_modules\//, "nm/").replace(/.*\/work\/main\//, "")
    const key = `${cf.functionName || "(anon)"} ${url.split("/").slice(-2).join("/")}:${cf.lineNumber}`
    self.set(key, (self.get(key) ?? 0) + t)
  }
  return self
}
const a = load(process.argv[2]), b = load(process.argv[3])
const keys = new Set([...a.keys(), ...b.keys()])
const rows = [...keys].map((k) => [k, a.get(k) ?? 0, b.get(k) ?? 0]).sort((x, y) => (y[2] - y[1]) - (x[2] - x[1]))
let ta = 0, tb = 0; for (const [, x, y] of rows) { ta += x; tb += y }
console.log("total", ta.toFixed(0), tb.toFixed(0))
for (const [k, x, y] of rows.slice(0, 35)) console.log((y - x).toFixed(0).padStart(6), x.toFixed(0).padStart(6), y.toFixed(0).padStart(6), k)
