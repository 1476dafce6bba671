/**
 * The `StepStore` on PostgreSQL (a server or PGlite). Every operation is one statement: `putStep` keeps the first
 * value recorded, and `receiveSignal` deletes the oldest signal and records it as the step's result in one
 * statement, so a signal is delivered exactly once across processes and a re-run reads the same answer.
 */

import { Effect, Layer, Option, Predicate, Schema } from "effect"
import { LeaseLost, StoreError } from "../errors.ts"
import { type Checkpoint, StepStore } from "../StepStore.ts"
import { Db } from "./Db.ts"
import { Driver } from "./Driver.ts"
import type { PgColumn } from "./internal/drizzle.ts"
import { and, eq, sql } from "./internal/drizzle.ts"
import { signals, stateEntries, steps, tasks } from "./schema.ts"

/** jsonb read as text: drizzle's decoder would read the JSON string `"123"` back as the number 123. */
const valueText = sql<string>`${steps.value}::text`.as("value")

const ValueRow = Schema.Struct({ value: Schema.fromJsonString(Schema.Json) })
const StepRow = Schema.Struct({ key: Schema.String, value: Schema.fromJsonString(Schema.Json) })
const CountRow = Schema.Struct({ count: Schema.Number })
const decodeJson = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Json))

/** A decoder of rows whose failure is a `StoreError` of `operation`; the parser is made once. */
const decodeWith = <A>(schema: Schema.Decoder<A>, operation: string) => {
  const decode = Schema.decodeUnknownEffect(schema)
  return (row: unknown): Effect.Effect<A, StoreError> =>
    Effect.mapError(decode(row), (cause) => new StoreError({ operation, cause }))
}

/** The value of the first row, if any. */
const firstValue = (operation: string) => {
  const decode = decodeWith(ValueRow, operation)
  return (rows: ReadonlyArray<unknown>): Effect.Effect<Option.Option<Schema.Json>, StoreError> =>
    rows.length === 0 ? Effect.succeedNone : Effect.map(decode(rows[0]), (row) => Option.some(row.value))
}

/** Whether the driver refused a write on a unique index (SQLSTATE 23505); drizzle wraps the driver's error. */
const isUniqueViolation = (error: StoreError): boolean => {
  let cause: unknown = error.cause
  for (let depth = 0; depth < 3 && Predicate.isObject(cause); depth++) {
    if (Predicate.hasProperty(cause, "code") && cause.code === "23505") return true
    cause = Predicate.hasProperty(cause, "cause") ? cause.cause : undefined
  }
  return false
}

// cast from text, so that neither driver re-encodes the JSON text it is given
const jsonb = (name: string) => sql`${sql.placeholder(name)}::text::jsonb`
const text = (name: string) => sql`${sql.placeholder(name)}::text`
/** A column's bare name, as an INSERT's column list needs it. */
const bare = (column: PgColumn) => sql.identifier(column.name)

/** Builds the step store over the shared `Db`; statements are prepared once, here. */
export const make = Effect.gen(function* () {
  const db = yield* Db
  const driver = yield* Driver

  const ofTask = eq(steps.taskId, sql.placeholder("taskId"))
  const inMailbox = and(eq(signals.taskId, sql.placeholder("taskId")), eq(signals.name, sql.placeholder("name")))

  const getStatement = driver.prepare(
    "getStep",
    db
      .select({ value: valueText })
      .from(steps)
      .where(and(ofTask, eq(steps.key, sql.placeholder("key"))))
  )

  // DO UPDATE rather than DO NOTHING: it locks the row a concurrent put has just committed, and RETURNING then
  // yields that first value, where DO NOTHING would return no row and need a second read. The update writes the
  // value it finds, so the first write still wins.
  const putStatement = driver.prepare(
    "putStep",
    db
      .insert(steps)
      .values({ taskId: sql.placeholder("taskId"), key: sql.placeholder("key"), value: jsonb("value") })
      .onConflictDoUpdate({ target: [steps.taskId, steps.key], set: { value: sql`${steps.value}` } })
      .returning({ value: valueText })
  )

  const listStatement = driver.prepare(
    "listSteps",
    db
      .select({ key: sql`${steps.key}`.as("key"), value: valueText })
      .from(steps)
      .where(ofTask)
  )

  // `starts_with`, not LIKE: a prefix is matched as it is, `%` and `_` included.
  const listPrefixedStatement = driver.prepare(
    "listStepsPrefixed",
    db
      .select({ key: sql`${steps.key}`.as("key"), value: valueText })
      .from(steps)
      .where(and(ofTask, sql`starts_with(${steps.key}, ${text("prefix")})`))
  )

  const sendStatement = driver.prepare(
    "sendSignal",
    db
      .insert(signals)
      .values({ taskId: sql.placeholder("taskId"), name: sql.placeholder("name"), payload: jsonb("payload") })
  )

  // One statement of data-modifying CTEs, all on one snapshot: read the step; unless it is recorded, lock the oldest
  // signal, delete it and insert its payload as the step's result. A concurrent receiver of the same mailbox waits
  // on that lock and, once the signal is gone, takes the next one. Not SKIP LOCKED: it would return None while a
  // signal still waits (locked by a receive that then fails), and would take signals out of order. Built with
  // `$with` so that it can be prepared.
  const recorded = db.$with("recorded", { value: sql`value` }).as(
    sql`select ${steps.value} from ${steps}
      where ${steps.taskId} = ${text("taskId")} and ${steps.key} = ${text("stepKey")}`
  )
  const oldest = db.$with("oldest", { id: sql`id` }).as(
    sql`select ${signals.id} from ${signals}
      where ${signals.taskId} = ${text("taskId")} and ${signals.name} = ${text("name")}
        and not exists (select from ${recorded})
      order by ${signals.id} limit 1 for update`
  )
  const taken = db
    .$with("taken", { payload: sql`payload` })
    .as(sql`delete from ${signals} where ${signals.id} = (select id from ${oldest}) returning ${signals.payload}`)
  const stored = db.$with("stored", { value: sql`value` }).as(
    sql`insert into ${steps} (${bare(steps.taskId)}, ${bare(steps.key)}, ${bare(steps.value)})
      select ${text("taskId")}, ${text("stepKey")}, payload from ${taken} returning ${bare(steps.value)}`
  )
  const receiveStatement = driver.prepare(
    "receiveSignal",
    db
      .with(recorded, oldest, taken, stored)
      .select({ value: sql<string>`value::text`.as("value") })
      .from(sql`(select value from ${recorded} union all select value from ${stored}) as received`)
  )

  const pendingStatement = driver.prepare(
    "pendingSignals",
    db
      .select({ count: sql<number>`count(*)::int`.as("count") })
      .from(signals)
      .where(inMailbox)
  )

  const decodeStep = decodeWith(StepRow, "listSteps")
  const decodeCount = decodeWith(CountRow, "pendingSignals")

  // The per-step operations go untraced, as the task store's do: a span costs about as much as a PGlite round trip.
  const firstGot = firstValue("getStep")
  const firstPut = firstValue("putStep")
  const firstReceived = firstValue("receiveSignal")
  const getStep = (taskId: string, key: string) => Effect.flatMap(getStatement({ taskId, key }), firstGot)

  const putStep = (taskId: string, key: string, value: Schema.Json): Effect.Effect<Schema.Json, StoreError> =>
    Effect.flatMap(putStatement({ taskId, key, value: JSON.stringify(value) }), (rows) =>
      Effect.flatMap(
        firstPut(rows),
        Option.match({
          onNone: () =>
            Effect.fail(new StoreError({ operation: "putStep", cause: new Error("the upsert returned no row") })),
          onSome: Effect.succeed
        })
      )
    )

  const listSteps = Effect.fn("PgStepStore.listSteps")(function* (taskId: string, prefix?: string | undefined) {
    const rows = yield* prefix === undefined ? listStatement({ taskId }) : listPrefixedStatement({ taskId, prefix })
    const decoded = yield* Effect.forEach(rows, decodeStep)
    return new Map(decoded.map((row) => [row.key, row.value]))
  })

  const sendSignal = (taskId: string, name: string, payload: Schema.Json): Effect.Effect<void, StoreError> =>
    Effect.asVoid(sendStatement({ taskId, name, payload: JSON.stringify(payload) }))

  const receiveSignal = (taskId: string, name: string, stepKey: string) =>
    receiveStatement({ taskId, name, stepKey }).pipe(
      // A concurrent receive under the same stepKey recorded its signal after this statement's snapshot was taken:
      // the insert fails on the primary key and the whole statement, its delete included, is undone. The conflict
      // is raised only once that record is committed, so the second run reads it and consumes nothing.
      Effect.retry({ times: 1, while: isUniqueViolation }),
      Effect.flatMap(firstReceived)
    )

  const pendingSignals = Effect.fn("PgStepStore.pendingSignals")(function* (taskId: string, name: string) {
    const rows = yield* pendingStatement({ taskId, name })
    return rows.length === 0 ? 0 : (yield* decodeCount(rows[0])).count
  })

  // One statement of data-modifying CTEs, each write guarded by the fence, so a stale token writes nothing. The fence
  // locks the task's row (FOR SHARE) so that a claim committing meanwhile waits for it, or makes the fence fail; the
  // state is written only with a step recorded now (a replay keeps what the first write left). On the Driver: it is the
  // per-step write.
  const fence = sql`fence as (
        select 1 from ${tasks}
        where ${tasks.id} = ${text("taskId")} and ${tasks.status} = 'running'
          and ${tasks.fencingToken} = ${sql.placeholder("token")}
        for share
      ), step as (
        insert into ${steps} (${bare(steps.taskId)}, ${bare(steps.key)}, ${bare(steps.value)})
        select ${text("taskId")}, ${text("key")}, ${jsonb("value")}
        where exists (select 1 from fence)
        on conflict (${bare(steps.taskId)}, ${bare(steps.key)}) do update set ${bare(steps.value)} = ${steps.value}
        returning ${steps.value}::text as value, xmax = 0 as inserted
      )`
  const answer = sql`select (select value from step) as value, (select inserted from step) as inserted`
  const checkpointWithState = driver.prepare(
    "checkpoint",
    sql`with ${fence}, state as (
        insert into ${stateEntries}
          (${bare(stateEntries.scope)}, ${bare(stateEntries.key)}, ${bare(stateEntries.value)},
           ${bare(stateEntries.expiresAt)}, ${bare(stateEntries.version)})
        select ${text("scope")}, entry.key, entry.value -> 'value', (entry.value ->> 'expiresAt')::bigint, 1
        from jsonb_each(${jsonb("entries")}) as entry
        where exists (select 1 from step where inserted)
        order by entry.key
        on conflict (${bare(stateEntries.scope)}, ${bare(stateEntries.key)}) do update
          set ${bare(stateEntries.value)} = excluded.value, ${bare(stateEntries.expiresAt)} = excluded.expires_at,
              ${bare(stateEntries.version)} = ${stateEntries.version} + 1
      ) ${answer}`
  )
  // Most steps change no state: without the state's CTE (even over no entries, it cost a sixth of the statement).
  const checkpointStep = driver.prepare("checkpoint", sql`with ${fence} ${answer}`)

  // The step's value, NULL when the fence did not hold: once it holds, the step's insert returns its row, new or not.
  // `inserted`: this write won, so the value given is the one stored (returned as given, not parsed back).
  const CheckpointRow = Schema.Struct({ value: Schema.NullOr(Schema.String), inserted: Schema.NullOr(Schema.Boolean) })
  const decodeCheckpoint = decodeWith(CheckpointRow, "checkpoint")

  const checkpoint = Effect.fnUntraced(function* (input: Checkpoint) {
    const entries: Record<string, { readonly value: Schema.Json; readonly expiresAt?: number | undefined }> = {}
    let changed = 0
    for (const [key, entry] of input.state?.entries ?? []) {
      entries[key] = entry
      changed++
    }
    const step = { taskId: input.taskId, token: input.token, key: input.key, value: JSON.stringify(input.value) }
    const rows = yield* changed === 0
      ? checkpointStep(step)
      : checkpointWithState({ ...step, scope: input.state?.scope ?? "", entries: JSON.stringify(entries) })
    const row = yield* decodeCheckpoint(rows[0])
    if (row.value === null) return yield* new LeaseLost({ taskId: input.taskId, token: input.token })
    if (row.inserted === true) return input.value
    return yield* Effect.mapError(decodeJson(row.value), (cause) => new StoreError({ operation: "checkpoint", cause }))
  })

  return StepStore.of({ getStep, putStep, checkpoint, listSteps, sendSignal, receiveSignal, pendingSignals })
})

/** The step store over the shared `Db`. */
export const layer: Layer.Layer<StepStore, never, Db | Driver> = Layer.effect(StepStore, make)
