/**
 * How the PostgreSQL stores run one driver call: whatever it throws becomes a `StoreError` naming the operation, a
 * closed client's says so (`StoreClosed`), and a call that met a lost connection runs again on a fresh one.
 */
import { Duration, Effect, Predicate, Schedule } from "effect"
import { StoreError } from "../../errors.ts"
import { StoreClosed } from "../errors.ts"

/** An error and the errors it wraps (drizzle wraps the driver's in its own), outermost first. */
const causes = (error: unknown): ReadonlyArray<unknown> => {
  const found: Array<unknown> = []
  for (let cause = error; found.length < 4 && Predicate.isObject(cause); ) {
    found.push(cause)
    cause = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
  }
  return found
}

/** The `code` of an error and of each error it wraps (a SQLSTATE, or a driver's or a socket's own code). */
export const codesOf = (error: unknown): ReadonlyArray<unknown> =>
  causes(error).map((cause) => (Predicate.hasProperty(cause, "code") ? cause.code : undefined))

/**
 * What a client fails with once it was closed: postgres.js after `end()` (CONNECTION_ENDED, or CONNECTION_DESTROYED
 * for a query `end` cut), PGlite after `close()`. No retry can succeed.
 */
const isClosedError = (error: unknown): boolean =>
  codesOf(error).some((code) => code === "CONNECTION_ENDED" || code === "CONNECTION_DESTROYED") ||
  causes(error).some(
    (cause) => cause instanceof Error && (cause.message === "PGlite is closed" || cause.message === "PGlite is closing")
  )

/** A driver's failure as a `StoreError`; a closed client's says so (`StoreClosed`), with what to do. */
const toStoreError = (operation: string, cause: unknown): StoreError =>
  new StoreError({ operation, cause: isClosedError(cause) ? new StoreClosed({ operation, cause }) : cause })

/** Runs one driver call once; whatever it throws or rejects with becomes a `StoreError` naming the operation. */
export const attemptOnce = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.tryPromise({ try: () => Promise.resolve(run()), catch: (cause) => toStoreError(operation, cause) })

/**
 * What a connection that went away, or could not be made for now, fails with. SQLSTATE class 08 (connection
 * exception; not 08P01, a protocol violation), 57P01-57P03 (the backend was terminated, crashed, or cannot take
 * connections yet) and 53300 (too many connections); postgres.js's CONNECTION_CLOSED (its socket was cut) and
 * CONNECT_TIMEOUT (no answer within `connect_timeout`); the sockets' own ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT,
 * unreachable hosts and networks, and a name lookup that failed for now (EAI_AGAIN). Not CONNECTION_ENDED nor
 * CONNECTION_DESTROYED: postgres.js raises those only after this process's own `end()`. PGlite, in process, fails
 * with none of these.
 */
const transientCodes: ReadonlySet<unknown> = new Set([
  "08000",
  "08001",
  "08003",
  "08004",
  "08006",
  "08007",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "CONNECTION_CLOSED",
  "CONNECT_TIMEOUT",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTCONN",
  "EAI_AGAIN"
])

/** Whether a `StoreError` came from a lost (or not yet made) connection. */
export const isTransient = (error: StoreError): boolean => codesOf(error.cause).some((code) => transientCodes.has(code))

// 50, 100, 200 ms... up to 2 s between tries (each within 20% either way), for up to 30 s: time for a pool whose
// backends were terminated, a restarted server or pooler, or a failover, to let connections in again (a lease lasts
// 30 s by default). A longer outage reaches the caller as a StoreError.
const transientRetry = {
  schedule: Schedule.exponential("50 millis").pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(2)))),
    Schedule.jittered,
    Schedule.upTo({ duration: "30 seconds" })
  ),
  while: isTransient
}

/**
 * Runs one driver call as `attemptOnce` does, and again, with growing delays, while it fails on a lost connection
 * (`isTransient`); any other failure returns at once.
 *
 * At least once: a statement whose commit reached the server but whose reply was lost runs again. Most statements
 * shrug it off (`finish` fails with `LeaseLost` and the runtime reads the outcome it recorded; heartbeats, state
 * `put`s, `putStep`, `receiveSignal` and keyed `create`s find their own write). Some show it: `create` without a key
 * fails with `TaskIdTaken` on the task it created, `claim` answers `None` and leaves the task `running` under this
 * owner until its lease expires, `compareAndSet` reports a conflict with its own write (so `modify` applies its
 * function again), and `sendSignal`, `appendLogs` and a snapshot `save` add their row twice.
 */
export const attempt = <A>(operation: string, run: () => PromiseLike<A>): Effect.Effect<A, StoreError> =>
  Effect.suspend(() => {
    let failures = 0
    // A blip passes unseen; an outage is said once (after about 1.5 s), while it is waited out.
    const once = Effect.tapError(attemptOnce(operation, run), (error) =>
      ++failures === outageAfterFailures && isTransient(error)
        ? Effect.logWarning(
            `store operation "${operation}" cannot reach the database; trying again for up to 30 s`,
            error
          )
        : Effect.void
    )
    return Effect.retry(once, transientRetry)
  })

/** How many failed tries in a row make an outage worth a log line. */
const outageAfterFailures = 5
