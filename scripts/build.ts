/**
 * Builds the package as npm publishes it: `dist/` holds JavaScript and declarations compiled from `src/` (Node does
 * not strip types from files under node_modules), plus the SQL migrations the PostgreSQL stores apply when they open.
 * Run by `npm run build`, and by `npm pack` / `npm publish` before they pack.
 */
import { execFileSync } from "node:child_process"
import { cpSync, rmSync } from "node:fs"
import { createRequire } from "node:module"

const root = new URL("../", import.meta.url)
const path = (relative: string) => new URL(relative, root).pathname
rmSync(path("dist"), { recursive: true, force: true })
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
execFileSync(process.execPath, [tsc, "-p", path("tsconfig.build.json")], { stdio: "inherit" })
cpSync(path("src/stores/postgres/migrations"), path("dist/stores/postgres/migrations"), { recursive: true })
