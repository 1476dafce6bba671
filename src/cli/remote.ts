/**
 * Remote mode: `--url` (or `WAYPOINT_URL`) names a `waypoint serve` (or any app built with `makeApp`), and commands
 * ask it over HTTP instead of opening a store; `--token` (or `WAYPOINT_TOKEN`) is its bearer token. This is how to
 * reach a PGlite folder another process has open, or a store on another machine. The answers are the same JSON the
 * commands print with `--json`.
 */

import process from "node:process"
import { Effect, Option, Predicate, Schema } from "effect"
import { Flag } from "effect/cli"
import type { LogEntry, LogQuery } from "../stores/ProgressStore.ts"
import { CommandFailed, UsageError } from "./errors.ts"

/** The flags of a command that can ask a remote app. */
export const remoteFlags = {
  url: Flag.String("url").pipe(
    Flag.withDescription("Base URL of a waypoint HTTP API to ask instead of a store (default: WAYPOINT_URL)"),
    Flag.optional
  ),
  token: Flag.String("token").pipe(Flag.withDescription("Its bearer token (default: WAYPOINT_TOKEN)"), Flag.optional)
}

/** A remote app: where, and with which token. */
export interface Remote {
  readonly url: string
  readonly token: string | undefined
}

/** What `remoteFlags` parsed to. */
export interface RemoteChoice {
  readonly url: Option.Option<string>
  readonly token: Option.Option<string>
}

/** The remote app the flags (or `WAYPOINT_URL`) name, if any. */
export const remoteOf = (flags: RemoteChoice): Option.Option<Remote> =>
  Option.map(
    Option.orElse(flags.url, () => Option.fromUndefinedOr(process.env.WAYPOINT_URL || undefined)),
    (url) => ({
      url: url.endsWith("/") ? url : `${url}/`,
      token: Option.getOrUndefined(Option.orElse(flags.token, () => Option.fromUndefinedOr(process.env.WAYPOINT_TOKEN)))
    })
  )

/** A problem (RFC 9457) the app answered with: its error's tag and status, and its detail for the person. */
export class RemoteProblem extends Schema.TaggedError<RemoteProblem>()("RemoteProblem", {
  tag: Schema.String,
  status: Schema.Number,
  detail: Schema.String
}) {
  override get message() {
    return `${this.detail} (${this.tag}, HTTP ${this.status})`
  }
}

/**
 * Asks the app and returns its JSON answer (`undefined` for 202 and 204). A problem answer fails: with its `tag`
 * (to branch on) and its detail as the message; a 400 is bad input (`UsageError`, exit code 2).
 */
export const request = (
  remote: Remote,
  method: "GET" | "POST",
  path: string,
  body?: unknown
): Effect.Effect<unknown, CommandFailed | RemoteProblem | UsageError> =>
  Effect.gen(function* () {
    const target = new URL(path.replace(/^\//, ""), remote.url)
    const response = yield* Effect.tryPromise({
      try: (signal) =>
        fetch(target, {
          method,
          signal,
          headers: {
            accept: "application/json",
            ...(remote.token === undefined ? {} : { authorization: `Bearer ${remote.token}` }),
            ...(body === undefined ? {} : { "content-type": "application/json" })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        }),
      catch: (cause) =>
        new CommandFailed({
          reason: `cannot reach ${remote.url}: ${Predicate.hasProperty(cause, "message") ? String(cause.message) : String(cause)}`
        })
    })
    if (response.status === 202 || response.status === 204) return undefined
    const text = yield* Effect.promise(() => response.text())
    const json = yield* Effect.try({
      try: () => (text === "" ? undefined : (JSON.parse(text) as unknown)),
      catch: () => new CommandFailed({ reason: `${target.href} answered ${response.status} with no JSON` })
    })
    if (response.ok) return json
    const detail =
      Predicate.hasProperty(json, "detail") && Predicate.isString(json.detail)
        ? json.detail
        : Predicate.hasProperty(json, "title") && Predicate.isString(json.title)
          ? json.title
          : `HTTP ${response.status}`
    const tag = Predicate.hasProperty(json, "tag") && Predicate.isString(json.tag) ? json.tag : "HttpError"
    if (response.status === 400) return yield* new UsageError({ reason: detail })
    return yield* new RemoteProblem({ tag, status: response.status, detail })
  })

/** An RFC 3339 time the API answered, as epoch milliseconds. */
export const millis = (iso: string | undefined): number | undefined => (iso === undefined ? undefined : Date.parse(iso))

/**
 * A task's log lines from the app (`GET /tasks/{id}/logs`), as the store keeps them: what `follow` prints between
 * its redraws.
 */
export const remoteLogs =
  (remote: Remote) =>
  (
    taskId: string,
    query: LogQuery
  ): Effect.Effect<ReadonlyArray<LogEntry>, CommandFailed | RemoteProblem | UsageError> =>
    Effect.map(
      request(
        remote,
        "GET",
        `/tasks/${encodeURIComponent(taskId)}/logs?limit=${query.limit}${query.afterSeq === undefined ? "" : `&after=${query.afterSeq}`}`
      ),
      (answer) =>
        (answer as { readonly items: ReadonlyArray<Omit<LogEntry, "at"> & { readonly at: string }> }).items.map(
          (entry) => ({ ...entry, at: Date.parse(entry.at) })
        )
    )
