/**
 * One process at a time in a PGlite folder: PGlite is a database for one process, and a second process opening the
 * same files would write over the first one's writes. The folder's `waypoint.lock` names the process that has it open
 * (its pid and host); another process refuses to open it while that one lives, and takes it over once it has died (a
 * crash leaves the lock behind). The same process may open the folder again (its own layers, one after the other).
 */
import { readFile, unlink, writeFile } from "node:fs/promises"
import { hostname } from "node:os"
import { join } from "node:path"
import process from "node:process"
import { Effect, Predicate } from "effect"
import { StoreError } from "../../errors.ts"
import { DataDirInUse } from "../errors.ts"

interface LockOwner {
  readonly pid: number
  readonly host: string
}

/** Whether process `pid` of this host lives (a process we may not signal lives too). */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return Predicate.hasProperty(error, "code") && error.code === "EPERM"
  }
}

const readOwner = (file: string): Promise<LockOwner | undefined> =>
  readFile(file, "utf8").then(
    (text) => {
      try {
        const owner = JSON.parse(text) as Partial<LockOwner>
        return typeof owner.pid === "number" && typeof owner.host === "string"
          ? { pid: owner.pid, host: owner.host }
          : undefined
      } catch {
        return undefined
      }
    },
    () => undefined
  )

const take = async (dataDir: string): Promise<DataDirInUse | undefined> => {
  const file = join(dataDir, "waypoint.lock")
  const me: LockOwner = { pid: process.pid, host: hostname() }
  for (let tries = 0; tries < 5; tries++) {
    try {
      await writeFile(file, JSON.stringify(me), { flag: "wx" })
      return undefined
    } catch (error) {
      if (!(Predicate.hasProperty(error, "code") && error.code === "EEXIST")) throw error
    }
    const owner = await readOwner(file)
    if (owner !== undefined && owner.host === me.host && owner.pid === me.pid) return undefined
    if (owner !== undefined && (owner.host !== me.host || isAlive(owner.pid))) {
      return new DataDirInUse({ dataDir, pid: owner.pid, host: owner.host })
    }
    // Left by a process that died (or unreadable): remove it and try again; of two processes doing so, one wins.
    await unlink(file).catch(() => undefined)
  }
  return undefined
}

/** Takes the folder's lock for this process, released with the current Scope. */
export const lockDataDir = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.flatMap(
      Effect.tryPromise({
        try: () => take(dataDir),
        catch: (cause) => new StoreError({ operation: "open", cause })
      }),
      (inUse) => (inUse === undefined ? Effect.void : Effect.fail(new StoreError({ operation: "open", cause: inUse })))
    ),
    () =>
      Effect.promise(async () => {
        const file = join(dataDir, "waypoint.lock")
        const owner = await readOwner(file)
        if (owner?.pid === process.pid && owner.host === hostname()) await unlink(file).catch(() => undefined)
      })
  )
