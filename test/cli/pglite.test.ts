/**
 * `waypoint` as a real process over a PGlite folder: each command once (or twice) against tasks the library left in
 * every state, asserting exit codes, the JSON's shape, the text and stderr's one-line messages; then, in this
 * process, what the steering commands wrote. A PGlite folder is for one process at a time, so the runs over it go
 * one after another; the runs that open no store go beside them.
 */
import { execFileSync } from "node:child_process"
import { cp, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { RunTree, StepStore } from "../../src/index.ts"
import { PgliteStore } from "../../src/postgres.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import { type CliRun, parsed, runCli, type Seeded, seed, startCli } from "./fixtures.ts"

let dataDir = ""
let copyDir = ""
let ids: Seeded
// every run over the folders, started by the first test that needs one
let runs: Promise<Record<string, CliRun>> | undefined

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), "waypoint-cli-"))
  dataDir = join(root, "data")
  copyDir = join(root, "copy")
  ids = await Effect.runPromise(seed(PgliteStore.layer({ dataDir })))
  // a PGlite folder is for one process at a time: two copies let two runs go at once
  await cp(dataDir, copyDir, { recursive: true })
}, 60_000)

afterAll(() => rm(join(dataDir, ".."), { recursive: true, force: true }))

/** Runs each command in order, and returns what each printed. */
const inOrder = async (commands: Record<string, ReadonlyArray<string>>) => {
  const results: Record<string, CliRun> = {}
  for (const [name, args] of Object.entries(commands)) {
    results[name] = await (name.startsWith("deno") ? runCli(args, {}, undefined, "deno") : runCli(args))
  }
  return results
}

const runAll = () => {
  runs ??= (async () => {
    const reads = ["--data-dir", dataDir]
    const writes = ["--data-dir", copyDir]
    const [first, second] = await Promise.all([
      inOrder({
        list: ["tasks", "list", "--json", ...reads],
        show: ["tasks", "show", ids.greet, "--json", ...reads],
        why: ["tasks", "why", ids.approval, ...reads],
        follow: ["tasks", "follow", ids.greet, ...reads],
        followFailed: ["tasks", "follow", ids.boom, "--json", ...reads],
        denoWhy: ["tasks", "why", ids.nap, "--json", ...reads],
        snapshotDiff: ["snapshots", "diff", ids.greet, "1", "2", "--json", ...reads]
      }),
      inOrder({
        runShow: ["runs", "show", ids.supervisor, "--json", ...writes],
        signal: ["tasks", "signal", ids.approval, "approve", '{"approved":true}', ...writes],
        resume: ["tasks", "resume", ids.nap, ...writes],
        cancel: ["tasks", "cancel", ids.nap, "--json", ...writes],
        checkpoints: ["checkpoints", "list", ids.supervisor, "--json", ...writes],
        fork: ["checkpoints", "fork", ids.checkpoint, "--replace", 'supervisor/maps="charts"', "--json", ...writes]
      })
    ])
    return { ...first, ...second }
  })()
  return runs
}

describe("waypoint on PGlite", () => {
  it("lists tasks as JSON in the HTTP API's shape", { timeout: 90_000 }, async () => {
    const { list } = await runAll()
    assert.strictEqual(list.code, 0, list.stderr)
    const page = parsed(list) as { items: Array<Record<string, unknown>>; nextCursor?: string }
    assert.strictEqual(page.items.length, 7)
    assert.isUndefined(page.nextCursor)
    const greet = page.items.find((item) => item.id === ids.greet)
    assert.deepInclude(greet, { name: "greet", status: "completed", attempt: 1, sessionId: "s1" })
    assert.match(String(greet?.createdAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    assert.notProperty(greet, "input") // a listing reads no input or output
    const boom = page.items.find((item) => item.id === ids.boom)
    assert.deepInclude(boom, { status: "failed", error: { tag: "UnknownError", message: "exploded at 7" } })
  })

  it("shows a task with its output, progress and inspection, and says why tasks wait", async () => {
    const { show, why } = await runAll()
    assert.strictEqual(show.code, 0, show.stderr)
    assert.deepInclude(parsed(show), {
      id: ids.greet,
      input: "Ada",
      output: "hi Ada",
      progress: {
        percent: 100,
        message: "done",
        updatedAt: (parsed(show) as { progress: { updatedAt: string } }).progress.updatedAt
      },
      inspection: { taskId: ids.greet, status: "completed", attempt: 1, reason: "finished" }
    })
    assert.strictEqual(why.code, 0, why.stderr)
    assert.strictEqual(
      why.stdout,
      `${ids.approval} is waiting for the signal "approve"; send it: waypoint tasks signal ${ids.approval} approve '<json>'\n`
    )
  })

  it("follows a task to its end: its log lines, its line, and exit code 1 when it failed", async () => {
    const { follow, followFailed } = await runAll()
    assert.strictEqual(follow.code, 0, follow.stderr)
    const lines = follow.stdout.trim().split("\n")
    assert.match(lines[0] ?? "", /^\d\d:\d\d:\d\d info +hello Ada$/)
    assert.match(lines[1] ?? "", /^\d\d:\d\d:\d\d warning almost there$/)
    assert.deepStrictEqual(lines.slice(2), [`greet ${ids.greet}: completed (done)`, `${ids.greet} completed`])

    assert.strictEqual(followFailed.code, 1)
    const events = followFailed.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    assert.deepStrictEqual(events, [
      { type: "task", taskId: ids.boom, state: "failed" },
      { type: "end", taskId: ids.boom, status: "failed", error: { tag: "UnknownError", message: "exploded at 7" } }
    ])
    assert.strictEqual(followFailed.stderr, `waypoint: ${ids.boom} failed: UnknownError: exploded at 7\n`)
  })

  it("shows a run's tree by key path", async () => {
    const { runShow } = await runAll()
    assert.strictEqual(runShow.code, 0, runShow.stderr)
    const tree = parsed(runShow) as { rootId: string; nodes: Array<{ path: string; status: string; depth: number }> }
    assert.strictEqual(tree.rootId, ids.supervisor)
    assert.deepStrictEqual(
      tree.nodes.map((node) => [node.path, node.depth, node.status]),
      [
        ["supervisor", 0, "completed"],
        ["supervisor/ships", 1, "completed"],
        ["supervisor/maps", 1, "completed"]
      ]
    )
  })

  it("signals, resumes and cancels tasks", async () => {
    const { signal, resume, cancel } = await runAll()
    assert.strictEqual(signal.code, 0, signal.stderr)
    assert.strictEqual(signal.stdout, `sent "approve" to ${ids.approval}\n`)
    assert.strictEqual(resume.code, 0, resume.stderr)
    assert.strictEqual(cancel.code, 0, cancel.stderr)
    assert.deepInclude(parsed(cancel), { id: ids.nap, status: "cancelled" })

    // what the commands wrote, read back here once every run is over (the folder is for one process at a time)
    const stored = await Effect.runPromise(
      Effect.gen(function* () {
        const tasks = yield* TaskStore
        const approval = Option.getOrThrow(yield* tasks.get(ids.approval))
        const nap = Option.getOrThrow(yield* tasks.get(ids.nap))
        const signals = yield* (yield* StepStore).pendingSignals(ids.approval, "approve")
        return { approval, nap, signals }
      }).pipe(Effect.provide(Layer.fresh(PgliteStore.layer({ dataDir: copyDir }))))
    )
    assert.isDefined(stored.approval.runAt) // woken by the signal: runnable from now
    assert.strictEqual(stored.signals, 1)
    assert.strictEqual(stored.nap.status, "cancelled")
  })
})

describe("waypoint snapshots and checkpoints on PGlite", () => {
  it("diffs two snapshots of a task, lists a run's checkpoints and forks one", async () => {
    const { snapshotDiff, checkpoints, fork } = await runAll()
    assert.strictEqual(snapshotDiff.code, 0, snapshotDiff.stderr)
    assert.deepStrictEqual(parsed(snapshotDiff), {
      from: 1,
      to: 2,
      changes: [
        { op: "changed", path: "/step", from: 1, to: 2 },
        { op: "removed", path: "/draft", from: "x" },
        { op: "added", path: "/notes/1", to: "b" }
      ]
    })
    assert.strictEqual(checkpoints.code, 0, checkpoints.stderr)
    const listed = parsed(checkpoints) as { items: Array<{ id: string; name: string }> }
    assert.deepStrictEqual(
      listed.items.map((item) => [item.id, item.name]),
      [[ids.checkpoint, "planned"]]
    )
    assert.strictEqual(fork.code, 0, fork.stderr)
    const { rootId } = parsed(fork) as { rootId: string }
    // the forked tree, read back here: the replaced branch runs again with its new input, the other kept its result
    const tree = await Effect.runPromise(
      RunTree.read(rootId).pipe(Effect.provide(Layer.fresh(PgliteStore.layer({ dataDir: copyDir }))))
    )
    assert.deepStrictEqual(
      tree.nodes.map((node) => [node.path, node.status, node.input]),
      [
        ["supervisor", "pending", ["ships", "maps"]],
        ["supervisor/ships", "completed", "ships"],
        ["supervisor/maps", "pending", "charts"]
      ]
    )
  })
})

describe("waypoint serve on PGlite", () => {
  it("serves the folder's API and dashboard, which --url commands ask while it holds the folder", async () => {
    const served = join(dataDir, "..", "served")
    await cp(dataDir, served, { recursive: true })
    const server = startCli(["serve", "--port", "0", "--data-dir", served])
    let forked = ""
    try {
      const [, base] = await server.waitFor(/^serving (http:\/\/127\.0\.0\.1:\d+) /m)
      const [list, inUse, page] = await Promise.all([
        runCli(["tasks", "list", "--name", "greet", "--json", "--url", base as string]),
        runCli(["tasks", "list", "--data-dir", served]),
        fetch(`${base}/ui`)
      ])
      assert.strictEqual(list.code, 0, list.stderr)
      assert.deepStrictEqual(
        (parsed(list) as { items: Array<{ id: string; status: string }> }).items.map((t) => [t.id, t.status]),
        [[ids.greet, "completed"]]
      )
      // the folder is the server's while it runs: asked directly, the command says so
      assert.strictEqual(inUse.code, 1)
      assert.match(inUse.stderr, /^waypoint: .* is open in process \d+/)
      assert.strictEqual(page.status, 200)
      assert.include(await page.text(), "<title>")

      // follow, snapshots and checkpoints ask the app too, and print what they print over the store
      const url = ["--url", base as string]
      const local = await runAll()
      const [follow, followFailed, runFollow, snapshotList, snapshotShow, snapshotDiff, noVersion, listed, fork] =
        await Promise.all([
          runCli(["tasks", "follow", ids.greet, "--interval", "10", ...url]),
          runCli(["tasks", "follow", ids.boom, "--json", ...url]),
          runCli(["runs", "follow", ids.supervisor, "--json", ...url]),
          runCli(["snapshots", "list", ids.greet, ...url]),
          runCli(["snapshots", "show", ids.greet, "--json", ...url]),
          runCli(["snapshots", "diff", ids.greet, "1", "2", "--json", ...url]),
          runCli(["snapshots", "show", ids.greet, "9", ...url]),
          runCli(["checkpoints", "list", ids.supervisor, "--json", ...url]),
          runCli(["checkpoints", "fork", ids.checkpoint, "--replace", 'supervisor/maps="charts"', "--json", ...url])
        ])
      // the same lines as over the store, the task's log lines included (GET /tasks/{id}/logs)
      assert.strictEqual(follow.code, 0, follow.stderr)
      assert.strictEqual(follow.stdout, local.follow?.stdout)
      assert.include(follow.stdout, "warning almost there")
      assert.deepStrictEqual(followFailed, local.followFailed)
      assert.strictEqual(runFollow.code, 0, runFollow.stderr)
      const runEvents = runFollow.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { type: string; taskId: string; state?: string; status?: string })
      assert.deepStrictEqual(
        runEvents.map((event) => [event.type, event.state ?? event.status]),
        [
          ["task", "completed"],
          ["task", "completed"],
          ["task", "completed"],
          ["end", "completed"]
        ]
      )
      assert.strictEqual(runEvents[0]?.taskId, ids.supervisor)
      assert.strictEqual(snapshotList.code, 0, snapshotList.stderr)
      assert.deepStrictEqual(
        snapshotList.stdout
          .trim()
          .split("\n")
          .map((row) => [row.split(/\s+/)[0], row.endsWith("yes")]),
        [
          ["VERSION", false],
          ["2", true],
          ["1", false]
        ]
      )
      assert.strictEqual(snapshotShow.code, 0, snapshotShow.stderr)
      assert.deepInclude(parsed(snapshotShow), { taskId: ids.greet, version: 2, data: { step: 2, notes: ["a", "b"] } })
      assert.deepStrictEqual(snapshotDiff, local.snapshotDiff)
      assert.deepStrictEqual(noVersion, {
        code: 1,
        stdout: "",
        stderr: `waypoint: task ${ids.greet} has no snapshot version 9\n`
      })
      assert.deepStrictEqual(listed, local.checkpoints)
      assert.strictEqual(fork.code, 0, fork.stderr)
      forked = (parsed(fork) as { rootId: string }).rootId
    } finally {
      const end = await server.stop()
      assert.strictEqual(end.code, 0, end.stderr)
    }
    // the fork the app made, read back once the server let go of the folder
    const tree = await Effect.runPromise(
      RunTree.read(forked).pipe(Effect.provide(Layer.fresh(PgliteStore.layer({ dataDir: served }))))
    )
    assert.deepStrictEqual(
      tree.nodes.map((node) => [node.path, node.status, node.input]),
      [
        ["supervisor", "pending", ["ships", "maps"]],
        ["supervisor/ships", "completed", "ships"],
        ["supervisor/maps", "pending", "charts"]
      ]
    )
  }, 60_000)
})

describe("waypoint worker on PGlite", () => {
  it("runs the tasks a module exports from the folder, one line per task it ends, until SIGTERM", async () => {
    const folder = join(dataDir, "..", "worked")
    await cp(dataDir, folder, { recursive: true })
    const id = crypto.randomUUID()
    await Effect.runPromise(
      Effect.flatMap(Effect.service(TaskStore), (tasks) => tasks.create({ id, name: "greet", input: "Lin" })).pipe(
        Effect.provide(Layer.fresh(PgliteStore.layer({ dataDir: folder, migrate: false })))
      )
    )
    const worker = startCli(["worker", new URL("./fixtures.ts", import.meta.url).pathname, "--data-dir", folder])
    await worker.waitFor(new RegExp(`^${id} greet completed$`, "m"))
    const end = await worker.stop()
    assert.strictEqual(end.code, 0, end.stderr)
    const record = await Effect.runPromise(
      Effect.flatMap(Effect.service(TaskStore), (tasks) => tasks.get(id)).pipe(
        Effect.provide(Layer.fresh(PgliteStore.layer({ dataDir: folder, migrate: false })))
      )
    )
    assert.deepInclude(Option.getOrThrow(record), { status: "completed", output: "hi Lin" })
  }, 60_000)
})

describe("waypoint's second process on PGlite", () => {
  it("runs a short command under --liftoff-only in a child, which SIGTERM to the command ends too", async () => {
    const folder = join(dataDir, "..", "follow")
    await cp(dataDir, folder, { recursive: true })
    const follow = startCli(["tasks", "follow", ids.approval, "--json", "--data-dir", folder])
    await follow.waitFor(/"type":"task"/)
    const children = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(follow.pid)], { encoding: "utf8" })
    assert.match(children, /--liftoff-only .*main\.ts tasks follow/)
    const child = Number(children.trim().split(/\s+/)[0])
    const ended = await follow.stop()
    assert.strictEqual(ended.code, 0, ended.stderr)
    assert.throws(() => process.kill(child, 0), /ESRCH/)
    // the child is gone with it: nothing holds the folder, so the next command opens it
    const list = await runCli(["tasks", "list", "--json", "--data-dir", folder])
    assert.strictEqual(list.code, 0, list.stderr)
  })
})

describe("waypoint under Deno", () => {
  it("runs the same source on Deno over the same folder", async () => {
    const { denoWhy } = await runAll()
    assert.strictEqual(denoWhy.code, 0, denoWhy.stderr)
    assert.deepInclude(parsed(denoWhy), { taskId: ids.nap, status: "suspended", reason: "paused" })
  })
})

describe("waypoint without a store", () => {
  it("prints help, and exits 2 with one line on stderr for bad input", async () => {
    const [help, unknown, badStatus, badJson, noStore] = await Promise.all([
      runCli(["tasks", "--help"]),
      runCli(["tasks", "lst"]),
      runCli(["tasks", "list", "--status", "done", "--data-dir", "x"]),
      runCli(["tasks", "signal", "id", "approve", "{nope", "--data-dir", "x"]),
      runCli(["tasks", "list"])
    ])
    assert.strictEqual(help.code, 0)
    for (const command of ["list", "show", "why", "follow", "cancel", "pause", "resume", "signal"]) {
      assert.match(help.stdout, new RegExp(`\\n  ${command} `))
    }
    assert.strictEqual(unknown.code, 2)
    assert.strictEqual(unknown.stdout, "")
    assert.strictEqual(
      unknown.stderr,
      'waypoint: Unknown subcommand "lst" for "waypoint tasks" (see: waypoint tasks --help)\n'
    )
    assert.strictEqual(badStatus.code, 2)
    assert.match(badStatus.stderr, /^waypoint: Invalid value for flag --status: "done"\. Expected: "pending" \| .*\n$/)
    assert.strictEqual(badJson.code, 2)
    assert.strictEqual(badJson.stderr, "waypoint: the payload is not JSON: {nope\n")
    assert.strictEqual(noStore.code, 2)
    assert.strictEqual(
      noStore.stderr,
      "waypoint: no store: pass --data-dir <folder> or --database-url <url>, or set DATABASE_URL\n"
    )
  })
})
