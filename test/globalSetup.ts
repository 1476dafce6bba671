/**
 * Before any test file: the prebuilt PGlite data directory that fresh PGlite databases start from (see
 * `scripts/pgliteTemplate.ts`; it does nothing when the one there is current), so that `npx vitest` needs no step of
 * its own after `npm install`.
 */
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../scripts/pgliteTemplate.ts", import.meta.url))], {
    stdio: "inherit"
  })
}
