import { createHash } from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import type { BranchSnapshotInput } from "../../../src/plugins/snapshots/BranchSnapshot.ts"
import * as PayloadCodec from "../../../src/plugins/snapshots/PayloadCodec.ts"
import { StateManager, type StateManagerOptions } from "../../../src/plugins/snapshots/StateManager.ts"
import * as FileStorageBackend from "../../../src/stores/file/FileStorageBackend.ts"
import * as MemoryStorageBackend from "../../../src/stores/memory/MemoryStorageBackend.ts"
import { StorageBackend } from "../../../src/stores/StorageBackend.ts"

/** A fresh folder for one test, removed with everything in it when the test ends. */
const tempFolder = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "waypoint-state-"))),
  (folder) => Effect.promise(() => fs.rm(folder, { recursive: true, force: true }))
)

const backends: ReadonlyArray<readonly [string, Layer.Layer<StorageBackend, unknown>]> = [
  ["memory", MemoryStorageBackend.layer],
  ["file", Layer.unwrap(Effect.map(tempFolder, (directory) => FileStorageBackend.layer({ directory })))]
]

/** A state manager over the backend in context, so that several can share one backend. */
const managerWith = (options: StateManagerOptions = {}) =>
  Effect.map(StateManager, (manager) => manager).pipe(Effect.provide(StateManager.layer(options)))

const text = new TextDecoder()

/** Replaces the stored bytes of `key` with `f` of them, as a disk error or an editor would. */
const tamper = (key: string, f: (bytes: Uint8Array) => Uint8Array) =>
  Effect.gen(function* () {
    const backend = yield* StorageBackend
    const bytes = Option.getOrThrow(yield* backend.load(key))
    yield* backend.save(key, f(bytes.slice()))
  })

const branchInput: BranchSnapshotInput = {
  sessionId: "orchestration",
  branches: { root: { goal: "plan" }, research: { query: "effect" }, write: { draft: null } },
  activeBranches: ["research"],
  completedBranches: ["root"],
  waiting: { write: ["research"] },
  results: { root: { plan: ["research", "write"] } },
  children: { root: ["research", "write"] },
  parents: { research: "root", write: "root" },
  metadata: { model: "small", attempt: 1 }
}

const canonical = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`
  const object = value as Record<string, unknown>
  return `{${Object.keys(object)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonical(object[key])}`)
    .join(",")}}`
}

for (const [backendName, backendLayer] of backends) {
  describe(`StateManager over the ${backendName} backend`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, StateManager | StorageBackend>) =>
      it.effect(
        title,
        () =>
          body.pipe(
            Effect.provide(StateManager.layer().pipe(Layer.provideMerge(backendLayer))),
            Effect.scoped
          ) as Effect.Effect<void, unknown>
      )

    test(
      "saves and loads a session's state",
      Effect.gen(function* () {
        const states = yield* StateManager
        assert.isTrue(Option.isNone(yield* states.loadSession("s1")))
        yield* states.saveSession("s1", { step: 1, notes: ["a"] })
        yield* states.saveSession("s1", { step: 2, notes: ["a", "b"] })
        yield* states.saveSession("s0", null)
        assert.deepStrictEqual(yield* states.loadSession("s1"), Option.some({ step: 2, notes: ["a", "b"] }))
        assert.deepStrictEqual(yield* states.listSessions(), ["s0", "s1"])
      })
    )

    test(
      "names checkpoints checkpoint_{session}_{name}_{timestamp} and restores them",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* TestClock.adjust(1_700)
        yield* states.saveSession("s1", { step: 1 })
        const before = yield* states.createCheckpoint("s1", "before-merge")
        assert.strictEqual(before, "checkpoint_s1_before-merge_1700")
        yield* states.saveSession("s1", { step: 2 })
        yield* TestClock.adjust(10)
        const after = yield* states.createCheckpoint("s1", "after")
        assert.strictEqual(after, "checkpoint_s1_after_1710")
        yield* states.saveSession("s1", { step: 3 })

        assert.deepStrictEqual(yield* states.restoreCheckpoint(before), { step: 1 })
        assert.deepStrictEqual(yield* states.loadSession("s1"), Option.some({ step: 1 }))
        assert.deepStrictEqual(yield* states.listCheckpoints("s1"), [
          { id: before, sessionId: "s1", name: "before-merge", createdAt: 1700 },
          { id: after, sessionId: "s1", name: "after", createdAt: 1710 }
        ])
      })
    )

    test(
      "gives two checkpoints of one name in one millisecond different ids",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* states.saveSession("s", { v: 1 })
        const ids = yield* Effect.all([states.createCheckpoint("s", "tick"), states.createCheckpoint("s", "tick")], {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual([...ids].sort(), ["checkpoint_s_tick_0", "checkpoint_s_tick_1"])
        assert.strictEqual((yield* states.listCheckpoints("s")).length, 2)
      })
    )

    test(
      "tells apart checkpoint ids that an underscore makes look alike",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* states.saveSession("a", "session a")
        yield* states.saveSession("a_b", "session a_b")
        const first = yield* states.createCheckpoint("a", "b_c")
        const second = yield* states.createCheckpoint("a_b", "c")
        assert.notStrictEqual(first, second)
        yield* states.saveSession("a", "changed")
        yield* states.saveSession("a_b", "changed")
        assert.strictEqual(yield* states.restoreCheckpoint(first), "session a")
        assert.strictEqual(yield* states.restoreCheckpoint(second), "session a_b")
        assert.deepStrictEqual(yield* states.loadSession("a_b"), Option.some("session a_b"))
      })
    )

    test(
      "fails with SessionNotFound or CheckpointNotFound for what does not exist",
      Effect.gen(function* () {
        const states = yield* StateManager
        const noSession = yield* Effect.flip(states.createCheckpoint("ghost", "x"))
        assert.deepInclude(noSession, { _tag: "SessionNotFound", sessionId: "ghost" })
        for (const id of ["checkpoint_s_x_1", "not-a-checkpoint", "checkpoint__1"]) {
          const error = yield* Effect.flip(states.restoreCheckpoint(id))
          assert.deepInclude(error, { _tag: "CheckpointNotFound", checkpointId: id })
        }
      })
    )

    test(
      "deletes a session with its checkpoints and branch snapshot",
      Effect.gen(function* () {
        const states = yield* StateManager
        const backend = yield* StorageBackend
        yield* states.saveSession("doomed", { v: 1 })
        yield* states.saveSession("doomed-not", { v: 2 })
        const checkpoint = yield* states.createCheckpoint("doomed", "one")
        yield* states.createCheckpoint("doomed", "two")
        yield* states.createCheckpoint("doomed-not", "kept")
        yield* states.saveBranchSnapshot({ ...branchInput, sessionId: "doomed" })
        assert.isTrue(yield* states.deleteSession("doomed"))
        assert.isFalse(yield* states.deleteSession("doomed"))
        assert.isTrue(Option.isNone(yield* states.loadSession("doomed")))
        assert.deepStrictEqual(yield* states.listCheckpoints("doomed"), [])
        assert.isTrue(Option.isNone(yield* states.loadBranchSnapshot("doomed")))
        assert.strictEqual((yield* Effect.flip(states.restoreCheckpoint(checkpoint)))._tag, "CheckpointNotFound")
        assert.deepStrictEqual(yield* states.listSessions(), ["doomed-not"])
        const left = yield* backend.listKeys("")
        assert.isFalse(
          left.some((key) => key.includes("doomed/") || key.endsWith("/doomed")),
          left.join(", ")
        )
        assert.strictEqual((yield* states.listCheckpoints("doomed-not")).length, 1)
      })
    )

    test(
      "deletes the sessions last saved before a cut-off, and only those",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* states.saveSession("oldest", 1)
        yield* states.createCheckpoint("oldest", "c")
        yield* TestClock.adjust("1 hour")
        yield* states.saveSession("old", 2)
        yield* TestClock.adjust("1 hour")
        yield* states.saveSession("recent", 3)
        yield* TestClock.adjust("1 hour")
        yield* states.saveSession("oldest-but-touched", 4)
        const removed = yield* states.deleteSessionsOlderThan(DateTime.makeUnsafe(90 * 60 * 1000))
        assert.strictEqual(removed, 2)
        assert.deepStrictEqual(yield* states.listSessions(), ["oldest-but-touched", "recent"])
        assert.deepStrictEqual(yield* states.listCheckpoints("oldest"), [])
      })
    )

    test(
      "round-trips a branch snapshot with its SHA-256 checksum of the canonical JSON",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* TestClock.adjust(5_000)
        const saved = yield* states.saveBranchSnapshot(branchInput)
        assert.strictEqual(saved.timestamp, 5_000)
        const { checksum, ...content } = saved
        assert.strictEqual(checksum, createHash("sha256").update(canonical(content)).digest("hex"))
        const loaded = yield* states.loadBranchSnapshot("orchestration")
        assert.deepStrictEqual(loaded, Option.some(saved))
        assert.isTrue(Option.isNone(yield* states.loadBranchSnapshot("other")))
      })
    )

    test(
      "fails with SnapshotCorrupted when any one byte of a stored record changes",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* states.saveBranchSnapshot(branchInput)
        yield* states.saveSession("s", { value: 12345 })
        const original = Option.getOrThrow(yield* (yield* StorageBackend).load("branches/orchestration"))
        for (let index = 0; index < original.byteLength; index++) {
          yield* tamper("branches/orchestration", () => {
            const bytes = original.slice()
            bytes[index] = (bytes[index] as number) ^ 0xff
            return bytes
          })
          const error = yield* Effect.flip(states.loadBranchSnapshot("orchestration"))
          assert.strictEqual(error._tag, "SnapshotCorrupted", `byte ${index}`)
        }
        // A change that leaves valid JSON of the right layout is caught by the checksum alone.
        yield* tamper("sessions/s", (bytes) => new TextEncoder().encode(text.decode(bytes).replace("12345", "12346")))
        const error = yield* Effect.flip(states.loadSession("s"))
        assert.deepInclude(error, { _tag: "SnapshotCorrupted", key: "sessions/s" })
        if (error._tag === "SnapshotCorrupted") assert.include(error.reason, "checksum")
      })
    )

    test(
      "refuses ids and names that could escape the storage folder, writing nothing",
      Effect.gen(function* () {
        const states = yield* StateManager
        yield* states.saveSession("fine", 1)
        for (const bad of ["", ".", "..", "../x", "a/b", "a\\b", "a\u0000b"]) {
          const saved = yield* Effect.flip(states.saveSession(bad, 1))
          assert.deepInclude(saved, { _tag: "InvalidKey", key: bad })
          assert.strictEqual((yield* Effect.flip(states.loadSession(bad)))._tag, "InvalidKey")
          assert.strictEqual((yield* Effect.flip(states.createCheckpoint("fine", bad)))._tag, "InvalidKey")
          assert.strictEqual((yield* Effect.flip(states.deleteSession(bad)))._tag, "InvalidKey")
          assert.strictEqual((yield* Effect.flip(states.listCheckpoints(bad)))._tag, "InvalidKey")
          assert.strictEqual(
            (yield* Effect.flip(states.saveBranchSnapshot({ ...branchInput, sessionId: bad })))._tag,
            "InvalidKey"
          )
        }
        assert.deepStrictEqual(yield* (yield* StorageBackend).listKeys(""), ["sessions/fine"])
      })
    )

    test(
      "refuses a state over the size limit or that JSON cannot carry, writing nothing",
      Effect.gen(function* () {
        const states = yield* managerWith({ sizeLimitBytes: 64 })
        const large = yield* Effect.flip(states.saveSession("s", "x".repeat(100)))
        assert.deepInclude(large, { _tag: "SnapshotTooLarge", id: "s", limitBytes: 64 })
        const fn = yield* Effect.flip(states.saveSession("s", { f: () => 1 }))
        assert.deepInclude(fn, { _tag: "SnapshotNotSerializable", id: "s" })
        assert.deepStrictEqual(yield* states.listSessions(), [])
      })
    )

    test(
      "round-trips records through gzip and AES-GCM, and fails clearly without them",
      Effect.gen(function* () {
        const key = yield* PayloadCodec.importAesKey(crypto.getRandomValues(new Uint8Array(32)))
        const otherKey = yield* PayloadCodec.importAesKey(crypto.getRandomValues(new Uint8Array(32)))
        const both = PayloadCodec.compose(PayloadCodec.gzip, PayloadCodec.aesGcm(key))
        const backend = yield* StorageBackend
        const state = { text: "repeated ".repeat(200) }

        for (const codec of [PayloadCodec.gzip, PayloadCodec.aesGcm(key), both]) {
          const writer = yield* managerWith({ codec })
          yield* writer.saveSession("coded", state)
          const checkpoint = yield* writer.createCheckpoint("coded", "c")
          assert.deepStrictEqual(yield* writer.loadSession("coded"), Option.some(state))
          assert.deepStrictEqual(yield* writer.restoreCheckpoint(checkpoint), state)
          const stored = Option.getOrThrow(yield* backend.load("sessions/coded"))
          assert.notInclude(text.decode(stored), "repeated", "the stored bytes are not the plain JSON")
        }

        const plain = yield* managerWith()
        const noCodec = yield* Effect.flip(plain.loadSession("coded"))
        assert.deepInclude(noCodec, { _tag: "CodecMismatch", expected: "none", found: "gzip+aes-gcm" })
        const wrongKey = yield* managerWith({
          codec: PayloadCodec.compose(PayloadCodec.gzip, PayloadCodec.aesGcm(otherKey))
        })
        assert.strictEqual((yield* Effect.flip(wrongKey.loadSession("coded")))._tag, "DecryptionFailed")

        yield* plain.saveSession("plain", state)
        const expectsGzip = yield* managerWith({ codec: PayloadCodec.gzip })
        const mismatch = yield* Effect.flip(expectsGzip.loadSession("plain"))
        assert.deepInclude(mismatch, { _tag: "CodecMismatch", expected: "gzip", found: "none" })
      })
    )
  })
}

describe("StateManager over files", () => {
  it.effect("fails with SnapshotCorrupted after one byte of the stored file is flipped on disk", () =>
    Effect.gen(function* () {
      const directory = yield* tempFolder
      const states = yield* managerWith().pipe(Effect.provide(FileStorageBackend.layer({ directory })))
      yield* states.saveBranchSnapshot(branchInput)
      const file = path.join(directory, "branches%2Forchestration")
      const bytes = yield* Effect.promise(() => fs.readFile(file))
      const middle = Math.floor(bytes.byteLength / 2)
      bytes[middle] = (bytes[middle] as number) ^ 0x01
      yield* Effect.promise(() => fs.writeFile(file, bytes))
      const error = yield* Effect.flip(states.loadBranchSnapshot("orchestration"))
      assert.deepInclude(error, { _tag: "SnapshotCorrupted", key: "branches/orchestration" })
    }).pipe(Effect.scoped)
  )
})
