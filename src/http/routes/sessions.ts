/**
 * The `StateManager` given to `makeApp`: sessions of JSON state, their named checkpoints, and restoring one. A
 * stored record that fails its checksum or codec is never returned: the answer is a 500 whose errorId keys the log.
 */
import { Effect, Option, Schema } from "effect"
import { SessionNotFound } from "../../index.ts"
import type { RequestInput } from "../request.ts"
import {
  defineRoute,
  json,
  keySegment,
  noContent,
  notConfiguredDoc,
  problemDoc,
  type ResponseDocs,
  type Route,
  type RouteContext,
  requireStateManager,
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

/** The session's id; the `StateManager`'s rules for a storage key are checked after decoding (`InvalidKey`). */
const SessionPath = Schema.Struct({
  id: Schema.String.annotateKey({
    description: "The session's id: up to 200 characters, no `/`, `\\`, control character, `.` or `..`."
  })
})

const CheckpointPath = Schema.Struct({
  id: Schema.String.annotateKey({
    description: "The checkpoint's id, as `POST /sessions/{id}/checkpoints` returned it."
  })
})

const putRequest = { path: SessionPath, body: Schema.Json.annotate({ description: "The session's new state." }) }
const checkpointRequest = { path: SessionPath, body: CheckpointRequest }

type SessionInput = RequestInput<{ path: typeof SessionPath }>

export const sessionRoutes = (ctx: RouteContext): ReadonlyArray<Route> => {
  const managerOf = requireStateManager(ctx)

  const list = Effect.fn("http.listSessions")(function* () {
    const manager = yield* managerOf
    const ids = yield* manager.listSessions()
    return json({ items: ids.map((id) => ({ id })) })
  })

  const get = Effect.fn("http.getSession")(function* (input: SessionInput) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
    const state = yield* manager.loadSession(id)
    if (Option.isNone(state)) return yield* new SessionNotFound({ sessionId: id })
    return json({ id, state: state.value })
  })

  const put = Effect.fn("http.putSession")(function* (input: RequestInput<typeof putRequest>) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
    const state = yield* input.body
    yield* manager.saveSession(id, state)
    return noContent()
  })

  const remove = Effect.fn("http.deleteSession")(function* (input: SessionInput) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
    if (!(yield* manager.deleteSession(id))) return yield* new SessionNotFound({ sessionId: id })
    return noContent()
  })

  const listCheckpoints = Effect.fn("http.listCheckpoints")(function* (input: SessionInput) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
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

  const createCheckpoint = Effect.fn("http.createCheckpoint")(function* (
    input: RequestInput<typeof checkpointRequest>
  ) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
    const { name } = yield* input.body
    return json({ id: yield* manager.createCheckpoint(id, yield* keySegment(name)) }, 201)
  })

  const restore = Effect.fn("http.restoreCheckpoint")(function* (input: RequestInput<{ path: typeof CheckpointPath }>) {
    const manager = yield* managerOf
    const id = yield* keySegment((yield* input.path).id)
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
    defineRoute(ctx, {
      method: "GET",
      path: "/sessions",
      request: {},
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
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/sessions/:id",
      request: { path: SessionPath },
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "getSession",
          summary: "Read a session's state",
          tag: "sessions",
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
    }),
    defineRoute(ctx, {
      method: "PUT",
      path: "/sessions/:id",
      request: putRequest,
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "putSession",
          summary: "Replace a session's state, creating the session",
          tag: "sessions",
          responses: {
            204: { description: "Saved." },
            400: problemDoc("A bad session id, or a body that is not JSON."),
            ...jsonBody,
            ...common
          }
        }
      ],
      handle: put
    }),
    defineRoute(ctx, {
      method: "DELETE",
      path: "/sessions/:id",
      request: { path: SessionPath },
      docs: [
        {
          path: "/sessions/{id}",
          operationId: "deleteSession",
          summary: "Remove a session with its checkpoints and branch snapshot",
          tag: "sessions",
          responses: {
            204: { description: "Removed." },
            ...badId,
            404: problemDoc("No such session."),
            ...common
          }
        }
      ],
      handle: remove
    }),
    defineRoute(ctx, {
      method: "GET",
      path: "/sessions/:id/checkpoints",
      request: { path: SessionPath },
      docs: [
        {
          path: "/sessions/{id}/checkpoints",
          operationId: "listCheckpoints",
          summary: "List a session's checkpoints, oldest first",
          tag: "sessions",
          responses: {
            200: { description: "The checkpoints.", schema: CheckpointListView },
            ...badId,
            404: problemDoc("No such session."),
            ...common
          }
        }
      ],
      handle: listCheckpoints
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/sessions/:id/checkpoints",
      request: checkpointRequest,
      docs: [
        {
          path: "/sessions/{id}/checkpoints",
          operationId: "createCheckpoint",
          summary: "Copy a session's current state into a new named checkpoint",
          tag: "sessions",
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
    }),
    defineRoute(ctx, {
      method: "POST",
      path: "/checkpoints/:id/restore",
      request: { path: CheckpointPath },
      docs: [
        {
          path: "/checkpoints/{id}/restore",
          operationId: "restoreCheckpoint",
          summary: "Make a checkpoint's state its session's current state again",
          tag: "sessions",
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
    })
  ]
}
