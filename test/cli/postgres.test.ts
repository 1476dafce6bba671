/**
 * `waypoint` as a real process over a PostgreSQL server (only when DATABASE_URL is set; a database of its own,
 * dropped after): migrating a new database, reading tasks beside a process that runs them, and following a task
 * live while another `waypoint` process sends the signal it waits for.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { PostgresStore } from "../../src/postgres.ts"
import { TaskStore } from "../../src/stores/TaskStore.ts"
import * as TestDatabase from "../stores/postgres/TestDatabase.ts"
import { type CliRun, live, makeRuntime, parsed, runCli, type Seeded, seed, startCli } from "./fixtures.ts"

describe.skipIf(TestDatabase.noServer)("waypoint on a PostgreSQL server: needs DATABASE_URL", () => {
  let url = ""

  beforeAll(async () => {
    url = await Effect.runPromise(TestDatabase.create(TestDatabase.adminUrl))
  })

  afterAll(async () => {
    if (url !== "") await Effect.runPromise(TestDatabase.drop(TestDatabase.adminUrl, url))
  })

  let ids: Seeded | undefined
  let migrated: Promise<Record<string, CliRun>> | undefined
  const migrateFirst = () => {
    migrated ??= (async () => {
      const before = await runCli(["migrate", "--status", "--json", "--database-url", url])
      const migrate = await runCli(["migrate"], { DATABASE_URL: url })
      const after = await runCli(["migrate", "--status", "--json"], { DATABASE_URL: url })
      ids = await Effect.runPromise(seed(PostgresStore.layer({ url, migrate: false })))
      return { before, migrate, after }
    })()
    return migrated
  }

  it("migrates a new database, and says what it lacked", { timeout: 60_000 }, async () => {
    const { before, migrate, after } = await migrateFirst()
    assert.strictEqual(before.code, 0, before.stderr)
    const status = parsed(before) as { exists: boolean; upToDate: boolean; missing: Array<string> }
    assert.deepInclude(status, { exists: true, upToDate: false })
    assert.strictEqual(status.missing[0], "0000_init")
    assert.isAbove(status.missing.length, 10)
    assert.strictEqual(migrate.code, 0, migrate.stderr)
    assert.match(
      migrate.stdout,
      new RegExp(`^applied ${status.missing.length} migration\\(s\\) to the database wp_test_`)
    )
    assert.deepStrictEqual(parsed(after), { exists: true, upToDate: true, missing: [] })
  })

  it("lists, inspects, follows and reads snapshots from processes of their own at once", {
    timeout: 60_000
  }, async () => {
    await migrateFirst()
    const seeded = ids as Seeded
    const env = { DATABASE_URL: url }
    const [list, listFiltered, why, missing, runFollow, snapshot, snapshots, pauseEnded] = await Promise.all([
      runCli(["tasks", "list", "--json", "--limit", "3"], env),
      runCli(["tasks", "list", "--status", "suspended", "--session", "s1"], env),
      runCli(["tasks", "why", seeded.nap, "--json"], env),
      runCli(["tasks", "show", "no-such-task"], env),
      runCli(["runs", "follow", seeded.supervisor], env),
      runCli(["snapshots", "show", seeded.greet], env),
      runCli(["snapshots", "list", seeded.greet], env),
      runCli(["tasks", "pause", seeded.greet], env)
    ])
    assert.strictEqual(list.code, 0, list.stderr)
    const page = parsed(list) as { items: Array<{ id: string }>; nextCursor?: string }
    assert.deepStrictEqual(
      page.items.map((item) => item.id),
      [seeded.greet, seeded.boom, seeded.approval]
    )
    assert.isString(page.nextCursor)
    assert.strictEqual(listFiltered.code, 0, listFiltered.stderr)
    const rows = listFiltered.stdout.trim().split("\n")
    assert.match(rows[0] ?? "", /^ID\s+NAME\s+STATUS\s+ATTEMPT\s+CREATED/)
    assert.deepStrictEqual(
      rows.slice(1).map((row) => row.split(/\s+/).slice(0, 3)),
      [[seeded.approval, "approval", "suspended"]]
    )
    assert.deepInclude(parsed(why), { taskId: seeded.nap, status: "suspended", reason: "paused" })
    assert.strictEqual(missing.code, 1)
    assert.strictEqual(missing.stdout, "")
    assert.strictEqual(missing.stderr, "waypoint: no task with id no-such-task\n")
    assert.strictEqual(snapshot.code, 0, snapshot.stderr)
    const [heading, ...data] = snapshot.stdout.split("\n")
    assert.match(heading ?? "", new RegExp(`^version 2 of ${seeded.greet}, \\d{4}-`))
    assert.deepStrictEqual(JSON.parse(data.join("\n")), { step: 2, notes: ["a", "b"] })
    assert.strictEqual(snapshots.code, 0, snapshots.stderr)
    const versions = snapshots.stdout.trim().split("\n")
    assert.match(versions[0] ?? "", /^VERSION\s+CREATED\s+BYTES\s+CHECKPOINT/)
    assert.deepStrictEqual(
      versions.slice(1).map((row) => [row.split(/\s+/)[0], row.endsWith("yes")]),
      [
        ["2", true],
        ["1", false]
      ]
    )
    assert.strictEqual(pauseEnded.code, 1)
    assert.strictEqual(pauseEnded.stderr, `waypoint: cannot pause task ${seeded.greet}: it is completed\n`)
    assert.strictEqual(runFollow.code, 0, runFollow.stderr)
    assert.deepStrictEqual(runFollow.stdout.trim().split("\n"), [
      "supervisor: completed",
      "ships: completed",
      "maps: completed",
      `${seeded.supervisor} completed`
    ])
  })

  it("pages with the cursor it prints, in the HTTP API's form, and refuses one no page gave", {
    timeout: 60_000
  }, async () => {
    await migrateFirst()
    const env = { DATABASE_URL: url }
    const list = await runCli(["tasks", "list", "--json", "--limit", "3"], env)
    assert.strictEqual(list.code, 0, list.stderr)
    const first = parsed(list) as { items: Array<{ id: string }>; nextCursor?: string }
    // base64url, as `GET /tasks` gives it: one that `--url` printed works here, and the other way round
    assert.match(first.nextCursor ?? "", /^[A-Za-z0-9_-]+$/)
    const [next, refused] = await Promise.all([
      runCli(["tasks", "list", "--json", "--limit", "3", "--cursor", first.nextCursor ?? ""], env),
      runCli(["tasks", "list", "--cursor", "not-a-cursor"], env)
    ])
    assert.strictEqual(next.code, 0, next.stderr)
    const second = parsed(next) as { items: Array<{ id: string }> }
    assert.isAbove(second.items.length, 0)
    const firstIds = new Set(first.items.map((item) => item.id))
    assert.isFalse(
      second.items.some((item) => firstIds.has(item.id)),
      "the next page starts after the first"
    )
    assert.strictEqual(refused.code, 1)
    assert.strictEqual(refused.stderr, "waypoint: not a cursor a page of this store gave\n")
  })

  it("follows a task live until a signal sent by another waypoint process lets it end", {
    timeout: 60_000
  }, async () => {
    await migrateFirst()
    const scope = await Effect.runPromise(Scope.make())
    try {
      // this process runs the task; two waypoint processes follow it and signal it
      const stores = await Effect.runPromise(Layer.buildWithScope(PostgresStore.layer({ url, migrate: false }), scope))
      const runtime = await Effect.runPromise(makeRuntime.pipe(Scope.provide(scope), Effect.provideContext(stores)))
      const handle = await Effect.runPromise(runtime.submit(live, null))
      const env = { DATABASE_URL: url }
      let signalled: Promise<CliRun> | undefined
      const follow = await runCli(["tasks", "follow", handle.id, "--interval", "50"], env, (printed) => {
        // the signal goes once the follower has printed the line the task logged before its wait
        if (signalled === undefined && printed.includes("waiting for go")) {
          signalled = runCli(["tasks", "signal", handle.id, "go", '{"note":"from the cli"}'], env)
        }
      })
      assert.isDefined(signalled)
      const signal = await (signalled as Promise<CliRun>)
      assert.strictEqual(signal.code, 0, signal.stderr)
      assert.strictEqual(follow.code, 0, follow.stderr)
      const lines = follow.stdout.trim().split("\n")
      const waiting = lines.findIndex((line) => / info +waiting for go$/.test(line))
      const got = lines.findIndex((line) => / info +got go: from the cli$/.test(line))
      assert.isAbove(waiting, -1, follow.stdout)
      assert.isAbove(got, waiting, follow.stdout)
      assert.include(lines, `live ${handle.id}: waiting for go (waiting)`)
      assert.strictEqual(lines.at(-1), `${handle.id} completed`)
      assert.strictEqual(await Effect.runPromise(handle.await), "from the cli")
    } finally {
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  })

  it("runs a worker for a module's tasks and serves the HTTP API, which --url commands ask; SIGTERM stops both", {
    timeout: 60_000
  }, async () => {
    await migrateFirst()
    const env = { DATABASE_URL: url }
    const worker = startCli(["worker", new URL("./fixtures.ts", import.meta.url).pathname, "--concurrency", "2"], env)
    const server = startCli(["serve", "--port", "0", "--token", "a-token-of-sixteen-chars"], env)
    try {
      const [workerLine, serving] = await Promise.all([
        worker.waitFor(/^worker \S+ \(pid \d+\) runs (.*)$/m),
        server.waitFor(/^serving (http:\/\/127\.0\.0\.1:\d+) /m)
      ])
      assert.strictEqual(workerLine[1], "approval, boom, greet, live, nap, researcher, supervisor")
      // a task no running process knows of: the worker claims it
      const id = crypto.randomUUID()
      await Effect.runPromise(
        Effect.flatMap(Effect.service(TaskStore), (tasks) => tasks.create({ id, name: "greet", input: "Grace" })).pipe(
          Effect.provide(Layer.fresh(PostgresStore.layer({ url, migrate: false })))
        )
      )
      const base = serving[1] as string
      const headers = { authorization: "Bearer a-token-of-sixteen-chars" }
      assert.strictEqual((await fetch(`${base}/tasks/${id}`)).status, 401)
      let task: { status?: string; output?: unknown } = {}
      for (let i = 0; i < 200 && task.status !== "completed"; i++) {
        task = (await (await fetch(`${base}/tasks/${id}`, { headers })).json()) as typeof task
        if (task.status !== "completed") await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.deepInclude(task, { status: "completed", output: "hi Grace" })

      // the same commands, asked of the app instead of the store
      const seeded = ids as Seeded
      const remote = ["--url", base, "--token", "a-token-of-sixteen-chars"]
      // (the signal lets the worker run the task that `why` finds waiting: it goes after)
      const [list, why, tree, denied] = await Promise.all([
        runCli(["tasks", "list", "--name", "greet", "--json", ...remote]),
        runCli(["tasks", "why", seeded.approval, "--url", base], { WAYPOINT_TOKEN: "a-token-of-sixteen-chars" }),
        runCli(["runs", "show", seeded.supervisor, ...remote]),
        runCli(["tasks", "list", "--url", base, "--token", "not-the-token-at-all"])
      ])
      const [resume, signal] = await Promise.all([
        runCli(["tasks", "resume", seeded.nap, "--json", ...remote]),
        runCli(["tasks", "signal", seeded.approval, "approve", '{"approved":false}', ...remote])
      ])
      assert.strictEqual(list.code, 0, list.stderr)
      assert.deepStrictEqual(
        (parsed(list) as { items: Array<{ id: string }> }).items.map((item) => item.id),
        [seeded.greet, id]
      )
      assert.strictEqual(why.code, 0, why.stderr)
      assert.match(why.stdout, new RegExp(`^${seeded.approval} is waiting for the signal "approve"`))
      assert.strictEqual(resume.code, 0, resume.stderr)
      assert.deepInclude(parsed(resume), { id: seeded.nap, name: "nap" })
      assert.strictEqual(signal.code, 0, signal.stderr)
      assert.strictEqual(signal.stdout, `sent "approve" to ${seeded.approval}\n`)
      assert.strictEqual(tree.code, 0, tree.stderr)
      assert.deepStrictEqual(
        tree.stdout
          .trim()
          .split("\n")
          .map((row) => row.trim().split(/\s+/).slice(0, 3)),
        [
          ["PATH", "STATUS", "PROGRESS"],
          ["supervisor", "completed", "100%"],
          ["ships", "completed", "100%"],
          ["maps", "completed", "100%"]
        ]
      )
      assert.strictEqual(denied.code, 1)
      assert.strictEqual(denied.stderr, "waypoint: missing or invalid credentials (Unauthorized, HTTP 401)\n")
    } finally {
      const [workerEnd, serverEnd] = await Promise.all([worker.stop(), server.stop()])
      assert.strictEqual(workerEnd.code, 0, workerEnd.stderr)
      assert.strictEqual(serverEnd.code, 0, serverEnd.stderr)
    }
  })
})
