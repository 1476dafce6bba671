/**
 * The restart measure shared by DBOS and Waypoint: a process is spawned that starts a two-step task and SIGKILLs
 * itself in step 2 (step 1 recorded); then a new process is spawned and times spawn -> its first resumed step, which
 * it prints as a JSON line `{ "importedAt": <wall clock ms>, "stepAt": <wall clock ms> }` (`importedAt`: when its
 * modules had loaded, its script's first line, which splits the time into loading the code and the rest).
 */
import { spawn } from "node:child_process"
import { wallClock } from "./scenario.ts"

const node = process.execPath

/** Runs `node script ...args` to its end; resolves with its stdout, or rejects on a failure other than `expectSignal`. */
const life = (script: string, args: ReadonlyArray<string>, expectSignal?: NodeJS.Signals) =>
  new Promise<string>((resolve, reject) => {
    const child = spawn(node, [script, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let err = ""
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString()
    })
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      if (expectSignal !== undefined ? signal === expectSignal : code === 0) resolve(out)
      else reject(new Error(`${script} ${args.join(" ")}: exit ${code ?? signal}\n${out}\n${err}`))
    })
  })

/**
 * One crash and restart: `script crash ...args` must die by SIGKILL; then the time from spawning `script resume
 * ...args` to the `stepAt` it prints, in ms.
 */
export const crashThenResume = async (label: string, script: string, args: ReadonlyArray<string>): Promise<number> => {
  await life(script, ["crash", ...args], "SIGKILL")
  const spawnedAt = wallClock()
  const out = await life(script, ["resume", ...args])
  const line = out.split("\n").find((l) => l.startsWith("{"))
  if (line === undefined) throw new Error(`${script} resume printed no result:\n${out}`)
  const { importedAt, stepAt } = JSON.parse(line) as { readonly importedAt: number; readonly stepAt: number }
  process.stderr.write(
    `    ${label}: spawn -> first resumed step ${(stepAt - spawnedAt).toFixed(0)} ms, of which spawn -> modules loaded ${(importedAt - spawnedAt).toFixed(0)} ms\n`
  )
  return stepAt - spawnedAt
}
