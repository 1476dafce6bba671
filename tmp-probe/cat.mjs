import { readFileSync } from "node:fs"
const cat = (f) => {
  const p = JSON.parse(readFileSync(f, "utf8"))
  const dt = new Map()
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0))
  const c = {}
  for (const n of p.nodes) {
    const t = (dt.get(n.id) ?? 0) / 1000
    const u = n.callFrame.url, fn = n.callFrame.functionName
    const k = u.startsWith("wasm") ? "pglite-wasm" : u.includes("pglite") ? "pglite-js" : u.includes("node_modules/effect") ? "effect" : u.includes("drizzle") ? "drizzle" : u.includes("/src/") ? "waypoint:" + u.split("/src/")[1].split("/").slice(0, 2).join("/") : fn.startsWith("(") ? fn : u.startsWith("node:") ? "node" : "native/other"
    c[k] = (c[k] ?? 0) + t
  }
  return c
}
const a = cat(process.argv[2]), b = cat(process.argv[3])
for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort((x, y) => (b[y] ?? 0) - (a[y] ?? 0) - ((b[x] ?? 0) - (a[x] ?? 0))))
  console.log(k.padEnd(40), (a[k] ?? 0).toFixed(0).padStart(7), (b[k] ?? 0).toFixed(0).padStart(7))
