/**
 * The `StateManager` given to `makeApp`: sessions of JSON state, their named checkpoints, and restoring one. A
 * stored record that fails its checksum or codec is never returned: the answer is a 500 whose errorId keys the log.
 */
import { Effect, Option, Schema } from "effect"
import type { Context } from "hono"
import { SessionNotFound } from "../../index.ts"
import { readJsonBody } from "../internal/body.ts"
import {
  badRequest,
  json,
  keySegment,
  keySegmentParam,
  noContent,
  notConfiguredDoc,
  type ParameterDoc,
  problemDoc,
  type ResponseDocs,
  type Route,
  type RouteContext,
  requireService,
  unauthorizedDoc
} from "../route.ts"
import {
  CheckpointCreatedView,
  CheckpointListView,
  RestoredView,
  SessionListView,
  SessionView,
  toCheckpointView
} from "../schema.ts"

const CheckpointRequest = Schema.Struct({
  /** One key segment: no `/`, `\`, control character, `.` or `..`. */
  name: Schema.String
}).annotate({ identifier: "CheckpointRequest", description: "The new checkpoint's name." })

const decodeCheckpointRequest = Schema.decodeUnknownEffect(CheckpointRequest)

const sessionIdParameter: ParameterDoc = {
  name: "id",
  in: "path",
  required: true,
  description: "The session's id: up to 200 characters, no `/`, `\\`, control character, `.` or `..`.",
  schema: Schema.String
}

export const sessionRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const managerOf = requireService(ctx.stateManager, "StateManager")

  const list = Effect.fn("http.listSessions")(function* () {
    const manager = yield* managerOf
    const ids = yield* manager.listSessions()
    return json({ items: ids.map((id) => ({ id })) })
  })

  const get = Effect.fn("http.getSession")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    const state = yield* manager.loadSession(id)
    if (Option.isNone(state)) return yield* new SessionNotFound({ sessionId: id })
    return json({ id, state: state.value })
  })

  const put = Effect.fn("http.putSession")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    const state = yield* readJsonBody(c.req.raw, ctx.bodyLimitBytes)
    yield* manager.saveSession(id, state)
    return noContent()
  })

  const remove = Effect.fn("http.deleteSession")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    if (!(yield* manager.deleteSession(id))) return yield* new SessionNotFound({ sessionId: id })
    return noContent()
  })

  const listCheckpoints = Effect.fn("http.listCheckpoints")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    const checkpoints = yield* manager.listCheckpoints(id)
    if (checkpoints.length === 0) {
      // Tell an unknown session from one without checkpoints. A session whose record cannot be read exists: its
      // checkpoints are how it is repaired.
      const exists = yield* manager.loadSession(id).pipe(
        Effect.map(Option.isSome),
        Effect.catchTag(["SnapshotCorrupted", "CodecMismatch", "DecryptionFailed"], () => Effect.succeed(true))
      )
      if (!exists) return yield* new SessionNotFound({ sessionId: id })
    }
    return json({ items: checkpoints.map(toCheckpointView) })
  })

  const createCheckpoint = Effect.fn("http.createCheckpoint")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    const body = yield* readJsonBody(c.req.raw, ctx.bodyLimitBytes)
    const { name } = yield* Effect.mapError(decodeCheckpointRequest(body), badRequest("invalid checkpoint request"))
    return json({ id: yield* manager.createCheckpoint(id, yield* keySegment(name)) }, 201)
  })

  const restore = Effect.fn("http.restoreCheckpoint")(function* (c: Context) {
    const manager = yield* managerOf
    const id = yield* keySegmentParam(c, "id")
    return json({ state: yield* manager.restoreCheckpoint(id) })
  })

  const notConfigured = notConfiguredDoc(ctx.stateManager, "StateManager")
  const common: ResponseDocs = { ...unauthorizedDoc(ctx), ...notConfigured }
  const unreadable = { 500: problemDoc("A stored record failed its checksum or codec; the errorId keys the log.") }
  const badId = { 400: problemDoc("A session id that cannot be a storage key.") }
  const jsonBody = {
    413: problemDoc("The body is larger than the limit."),
    415: problemDoc("The body is not application/json.")
  }

  return [
    {
      method: "GET",
      path: "/sessions",
      docs: [
        {
          path: "/sessions",
          operationId: "listSessions",
          summary: "List every session with a state",
          tag: "sessions",
          responses: { 200: { description: "The sessions, by id.", schema: SessionListView }, ...common }
        }
      ],
      handle: list
    },
    {
      method: "GET",
      path: "/sessions/:id",
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "getSession",
          summary: "Read a session's state",
          tag: "sessions",
          parameters: [sessionIdParameter],
          responses: {
            200: { description: "The session.", schema: SessionView },
            ...badId,
            404: problemDoc("No such session."),
            ...unreadable,
            ...common
          }
        }
      ],
      handle: get
    },
    {
      method: "PUT",
      path: "/sessions/:id",
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "putSession",
          summary: "Replace a session's state, creating the session",
          tag: "sessions",
          parameters: [sessionIdParameter],
          requestBody: Schema.Json.annotate({ description: "The session's new state." }),
          responses: {
            204: { description: "Saved." },
            400: problemDoc("A bad session id, or a body that is not JSON."),
            ...jsonBody,
            ...common
          }
        }
      ],
      handle: put
    },
    {
      method: "DELETE",
      path: "/sessions/:id",
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "deleteSession",
          summary: "Remove a session with its checkpoints and branch snapshot",
          tag: "sessions",
          parameters: [sessionIdParameter],
          responses: {
            204: { description: "Removed." },
            ...badId,
            404: problemDoc("No such session."),
            ...common
          }
        }
      ],
      handle: remove
    },
    {
      method: "GET",
      path: "/sessions/:id/checkpoints",
      docs: [
        {
          path: "/sessions/{id}/checkpoints",
          operationId: "listCheckpoints",
          summary: "List a session's checkpoints, oldest first",
          tag: "sessions",
          parameters: [sessionIdParameter],
          responses: {
            200: { description: "The checkpoints.", schema: CheckpointListView },
            ...badId,
            404: problemDoc("No such session."),
            ...common
          }
        }
      ],
      handle: listCheckpoints
    },
    {
      method: "POST",
      path: "/sessions/:id/checkpoints",
      docs: [
        {
          path: "/sessions/{id}/checkpoints",
          operationId: "createCheckpoint",
          summary: "Copy a session's current state into a new named checkpoint",
          tag: "sessions",
          parameters: [sessionIdParameter],
          requestBody: CheckpointRequest,
          responses: {
            201: { description: "The checkpoint's id.", schema: CheckpointCreatedView },
            400: problemDoc("A bad session id or name, or a body that is not a checkpoint request."),
            404: problemDoc("No such session."),
            ...jsonBody,
            ...unreadable,
            ...common
          }
        }
      ],
      handle: createCheckpoint
    },
    {
      method: "POST",
      path: "/checkpoints/:id/restore",
      docs: [
        {
          path: "/checkpoints/{id}/restore",
          operationId: "restoreCheckpoint",
          summary: "Make a checkpoint's state its session's current state again",
          tag: "sessions",
          parameters: [
            {
              name: "id",
              in: "path",
              required: true,
              description: "The checkpoint's id, as `POST /sessions/{id}/checkpoints` returned it.",
              schema: Schema.String
            }
          ],
          responses: {
            200: { description: "The restored state.", schema: RestoredView },
            400: problemDoc("A checkpoint id that cannot be a storage key."),
            404: problemDoc("No such checkpoint."),
            413: problemDoc("The checkpoint's state is larger than the StateManager's limit."),
            ...unreadable,
            ...common
          }
        }
      ],
      handle: restore
    }
  ]
}
