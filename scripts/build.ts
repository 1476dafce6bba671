/**
 * Builds the package as npm publishes it: `dist/` holds JavaScript and declarations compiled from `src/` (Node does
 * not strip types from files under node_modules), plus the SQL migrations the PostgreSQL stores apply when they open
 * and the prebuilt PGlite data directory a fresh embedded store starts from.
 * The `waypoint` command (`dist/cli/main.js`, package.json's `bin`) keeps its `#!/usr/bin/env node` line and is made
 * executable. Run by `npm run build`, and by `npm pack` / `npm publish` before they pack.
 */
import { execFileSync } from "node:child_process"
import { chmodSync, cpSync, rmSync } from "node:fs"
import { createRequire } from "node:module"

const root = new URL("../", import.meta.url)
const path = (relative: string) => new URL(relative, root).pathname
rmSync(path("dist"), { recursive: true, force: true })
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
execFileSync(process.execPath, [tsc, "-p", path("tsconfig.build.json")], { stdio: "inherit" })
cpSync(path("src/stores/postgres/migrations"), path("dist/stores/postgres/migrations"), { recursive: true })
// the data directory a fresh PGlite store starts from, made (or found current) in src, then shipped beside the stores
execFileSync(process.execPath, [path("scripts/pgliteTemplate.ts")], { stdio: "inherit" })
cpSync(path("src/stores/postgres/prebuilt"), path("dist/stores/postgres/prebuilt"), { recursive: true })
// npm links `bin` entries executable when it installs a package, but `node dist/cli/main.js` is not the only way in
chmodSync(path("dist/cli/main.js"), 0o755)
