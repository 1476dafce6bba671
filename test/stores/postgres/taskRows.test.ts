/**
 * A returned row becomes a `TaskRecord`: the common row is built by hand, any other by the schema, and both give the
 * same record; a row the schema refuses is a `StoreError`, whichever way it would have gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { toRecord, toSummary } from "../../../src/stores/postgres/internal/task/rows.ts"

/** A row as a driver returns it: every column, SQL NULL as `null`, jsonb as text. */
const row = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: "t1",
  name: "trivial",
  input: "41",
  status: "running",
  attempt: 1,
  sessionId: null,
  parentId: "p1",
  childKey: "c1",
  idempotencyKey: null,
  output: null,
  error: null,
  suspendReason: null,
  runAt: null,
  leaseOwner: "runtime-1",
  leaseExpiresAt: 2_000,
  fencingToken: 7,
  cancelRequested: false,
  pauseRequested: false,
  createdAt: 1_000,
  updatedAt: 1_000,
  startedAt: 1_000,
  finishedAt: null,
  deadline: null,
  forkedFrom: null,
  trace: null,
  ...overrides
})

/** The record of `row()`'s columns but its input and output: its NULL columns are absent fields. */
const summaryOfRow = {
  id: "t1",
  name: "trivial",
  status: "running",
  attempt: 1,
  parentId: "p1",
  childKey: "c1",
  leaseOwner: "runtime-1",
  leaseExpiresAt: 2_000,
  fencingToken: 7,
  createdAt: 1_000,
  updatedAt: 1_000,
  startedAt: 1_000
}

const decode = (r: Record<string, unknown>) => Effect.runSyncExit(toRecord("test")(r))

describe("task rows", () => {
  it("builds the common row's record with only its present fields", () => {
    const record = Effect.runSync(toRecord("test")(row({ notified: null })))
    expect(record).toStrictEqual({ ...summaryOfRow, input: 41 })
  })

  it("keeps JSON as JSON: a string that looks like a number, an output of null, a claim's first", () => {
    const record = Effect.runSync(
      toRecord("test")(row({ input: '"123"', output: "null", status: "completed", firstClaim: true }))
    )
    expect(record.input).toBe("123")
    expect("output" in record && record.output === null).toBe(true)
    expect(record.firstClaim).toBe(true)
  })

  it("decodes a row with a reason, an error, a fork or a trace by the schema, to the same kind of record", () => {
    const record = Effect.runSync(
      toRecord("test")(
        row({
          status: "failed",
          error: JSON.stringify({ tag: "Boom", message: "it broke" }),
          suspendReason: null
        })
      )
    )
    expect(record.error).toStrictEqual({ tag: "Boom", message: "it broke" })
    expect(record.input).toBe(41)
    expect("sessionId" in record).toBe(false)
    const suspended = Effect.runSync(
      toRecord("test")(row({ status: "suspended", suspendReason: JSON.stringify({ _tag: "Paused" }) }))
    )
    expect(suspended.suspendReason).toStrictEqual({ _tag: "Paused" })
  })

  it.each([
    ["an attempt as text", { attempt: "1" }],
    ["an unknown status", { status: "sleeping" }],
    ["input that is not JSON", { input: "{not json" }],
    ["a missing id", { id: null }],
    ["a key that is not text", { childKey: 3 }],
    ["a lease's end as text", { leaseExpiresAt: "2000" }],
    ["a first claim that is not a boolean", { firstClaim: "yes" }],
    ["an error of the wrong shape", { status: "failed", error: '{"oops":1}' }],
    ["input past a double's range", { input: '{"n":1e400}' }],
    ["an output past a double's range", { status: "completed", output: `1${"0".repeat(400)}` }]
  ])("refuses %s with a StoreError", (_, overrides) => {
    const exit = decode(row(overrides))
    expect(Exit.isFailure(exit)).toBe(true)
    if (Exit.isFailure(exit)) expect(JSON.stringify(exit.cause)).toContain("StoreError")
  })

  it("builds a summary without input and output", () => {
    const { input: _, output: __, ...columns } = row()
    const summary = Effect.runSync(toSummary("test")(columns))
    expect(summary).toStrictEqual(summaryOfRow)
  })
})
