/**
 * `waypoint tasks why`: an `Inspection` said as a sentence a person can act on, with the command that acts on it
 * where there is one.
 */
import type { Inspection } from "../../runtime/Inspection.ts"
import { time } from "../output.ts"

const ago = (now: number, at: number) => `${Math.max(0, Math.round((now - at) / 1000))}s ago`

/** Why the task is where it is, in one or two lines. */
export const explain = (inspection: Inspection, now: number): string => {
  const id = inspection.taskId
  switch (inspection.reason) {
    case "finished":
      return `${id} has finished: ${inspection.status}${inspection.lastError === undefined ? "" : ` (${inspection.lastError.tag}: ${inspection.lastError.message})`}`
    case "running":
      return `${id} is running attempt ${inspection.attempt} on ${inspection.leaseOwner ?? "a worker"}; last heartbeat ${inspection.lastHeartbeatAt === undefined ? "unknown" : ago(now, inspection.lastHeartbeatAt)}, lease until ${time(inspection.leaseExpiresAt)}`
    case "lease-expired":
      return `${id} is stuck: its worker ${inspection.leaseOwner ?? ""} stopped renewing its lease (expired ${inspection.leaseExpiresAt === undefined ? "" : ago(now, inspection.leaseExpiresAt)}); a worker that knows it takes it over at its next poll`
    case "waiting-signal":
      return `${id} is waiting for the signal "${inspection.signal ?? "?"}"${inspection.runAt === undefined ? "" : ` (or until ${time(inspection.runAt)})`}; send it: waypoint tasks signal ${id} ${inspection.signal ?? "<name>"} '<json>'`
    case "waiting-children": {
      const children = inspection.children
      const waiting =
        children === undefined || children.waitingFor.length === 0 ? "" : `: ${children.waitingFor.join(", ")}`
      return `${id} is waiting for ${children?.remaining ?? "?"} of its ${children?.total ?? "?"} children${waiting}`
    }
    case "queued-behind-siblings":
      return `${id} is queued behind its siblings: its parent's fan-out runs a bounded number at a time`
    case "paused":
      return `${id} is paused; resume it: waypoint tasks resume ${id}`
    case "sleeping-until":
      return `${id} is sleeping until ${time(inspection.runAt)} (a retry's delay or a timed wait)`
    case "queued-behind-limit":
      return `${id} is queued: as many instances of its task as its maxParallel allows are running`
    case "queued":
      return `${id} is queued: runnable now, waiting for a worker that knows its task to claim it`
  }
}
