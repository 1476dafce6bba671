/**
 * The dashboard at `/ui` in headless Chromium, over a real server and runtime: live statuses and progress, the
 * controls, signals, snapshot diffs, run trees, and the token prompt. Screenshots go to `test-artifacts/`.
 */
import { existsSync, mkdirSync } from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { type Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import { Hono } from "hono"
import { type Browser, chromium, type Locator, type Page } from "playwright-core"
import { afterAll, beforeAll } from "vitest"
import { makeApp, serveNode } from "../../src/http.ts"
import {
  Children,
  MemoryStore,
  Progress,
  ProgressPlugin,
  Runtime,
  SnapshotPlugin,
  Snapshots,
  StatePlugin,
  task,
  waitForSignal
} from "../../src/index.ts"

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium"
const ARTIFACTS = "test-artifacts"
const TOKEN = "browser-test-token-0123456789"

// Checked as the file loads, so that a machine without Chromium fails the run here, with this message, skipping nothing.
if (!existsSync(CHROMIUM)) {
  throw new Error(
    `Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium) or set CHROMIUM_PATH. The dashboard's browser tests need it and do not skip.`
  )
}

/** A promise the test opens; a task body waits on it (interruptibly, so a cancel or pause stops the wait). */
const makeGate = () => {
  let open = () => {}
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}
const importGate = makeGate()
const agentGates = new Map([
  ["research", makeGate()],
  ["write", makeGate()]
])

const importer = task({ name: "importer", input: Schema.Struct({ rows: Schema.Number }) }, ({ rows }) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    yield* progress.status("importing")
    yield* progress.update(50, `row ${rows / 2} of ${rows}`)
    yield* Effect.promise(() => importGate.promise)
    yield* progress.update(100, `row ${rows} of ${rows}`)
    return { imported: rows }
  })
)

/** Run by another runtime than the server's (a worker process, in production): its events never reach the page. */
const elsewhereGate = makeGate()
const elsewhere = task({ name: "elsewhere", input: Schema.Struct({}) }, () =>
  Effect.gen(function* () {
    const progress = yield* Progress
    yield* progress.update(50, "half way")
    yield* Effect.promise(() => elsewhereGate.promise)
    yield* progress.update(100, "done")
  })
)

/** Runs until it is paused or cancelled. */
const worker = task({ name: "worker", input: Schema.Struct({}) }, () => Effect.never)

const Approval = Schema.Struct({ approved: Schema.Boolean, by: Schema.String })
const approver = task({ name: "approver", input: Schema.Struct({}), signals: { approval: Approval } }, () =>
  waitForSignal("approval", Approval)
)

const notes = task({ name: "notes", input: Schema.Struct({}) }, () =>
  Effect.gen(function* () {
    const snapshots = yield* Snapshots
    yield* snapshots.save({ title: "draft", tags: ["a"], pages: 1 })
    yield* snapshots.save({ title: "final", tags: ["a", "b"], pages: 1 })
    return "saved"
  })
)

const agent = task({ name: "agent", input: Schema.String, output: Schema.String }, (key) =>
  Effect.gen(function* () {
    const progress = yield* Progress
    yield* progress.update(50, `${key} half way`)
    yield* Effect.promise(() => agentGates.get(key)?.promise ?? Promise.resolve())
    yield* progress.update(100, `${key} done`)
    return `${key} done`
  })
)
const supervisor = task({ name: "supervisor", input: Schema.Struct({}), output: Schema.Array(Schema.String) }, () =>
  Children.all(Array.from(agentGates.keys(), (key) => Children.spec(agent, key, { key })))
)

const tasks = [importer, worker, approver, notes, agent, supervisor]

let scope: Scope.Closeable
let browser: Browser
/** The app without auth, and the same runtime's app with a bearer token, under `/waypoint`. */
let open: string
let guarded: string
/** The stores the server's runtime uses, for a second runtime (a worker's) in a test. */
let stores: Context.Context<Layer.Success<typeof MemoryStore.layer>>

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  browser = await chromium.launch({ executablePath: CHROMIUM })
  scope = Effect.runSync(Scope.make())
  const servers = Effect.gen(function* () {
    const runtime = yield* Runtime.make({
      tasks,
      plugins: [StatePlugin.make(), SnapshotPlugin.make(), ProgressPlugin.make({ flushInterval: "50 millis" })]
    })
    const plain = yield* serveNode(yield* makeApp({ runtime, tasks }), { port: 0 })
    // mounted under a prefix, as `makeApp`'s documentation shows: the page finds the API relative to itself
    const parent = new Hono().route("/waypoint", yield* makeApp({ runtime, tasks, auth: { bearer: TOKEN } }))
    const withAuth = yield* serveNode(parent, { port: 0 })
    return [plain.url, `${withAuth.url}/waypoint`] as const
  })
  stores = await Effect.runPromise(Layer.buildWithScope(MemoryStore.layer, scope))
  ;[open, guarded] = await Effect.runPromise(servers.pipe(Effect.provideContext(stores), Scope.provide(scope)))
})

afterAll(async () => {
  await browser?.close()
  if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
})

/** A new page (fresh sessionStorage) on the dashboard; script errors and CSP violations fail the test. */
const openDashboard = async (server: string) => {
  const page = await (await browser.newContext()).newPage()
  page.setDefaultTimeout(5_000)
  const problems: Array<string> = []
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
  page.on("console", (message) => {
    if (message.type() === "error" && /Content.Security.Policy|Trusted Type/i.test(message.text())) {
      problems.push(`blocked: ${message.text()}`)
    }
  })
  await page.goto(`${server}/ui`)
  return { page, problems }
}

const status = (page: Page, text: string | RegExp) => page.getByRole("status").filter({ hasText: text }).waitFor()

/** The list's row of a task, found by its Open button. */
const rowOf = (page: Page, name: string, id: string) =>
  page.getByRole("row").filter({ has: page.getByRole("button", { name: `Open ${name} ${id.slice(-8)}` }) })

const untilCell = (row: Locator, text: string) => row.getByRole("cell", { name: text, exact: true }).waitFor()

const untilProgress = (page: Page, label: string, percent: number) =>
  page
    .getByRole("progressbar", { name: `Progress of ${label}` })
    .and(page.locator(`[value="${percent}"]`))
    .waitFor()

const start = async (server: string, name: string, input: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(`${server}/tasks/${name}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(input)
  })
  assert.strictEqual(response.status, 201)
  return ((await response.json()) as { id: string }).id
}

describe("the dashboard in Chromium", () => {
  it("starts a task from the page and shows its progress bar live until it reaches 100 %", async () => {
    const { page, problems } = await openDashboard(open)
    await status(page, /^Live: \d+ tasks$/)
    await page.getByLabel("Task to start").selectOption("importer")
    await page.getByLabel("Input (JSON)").fill('{ "rows": 10 }')
    await page.getByRole("button", { name: "Start", exact: true }).click()
    await status(page, /^Started importer /)
    // the detail opens on the task started, named in full in its heading and by its last 8 characters elsewhere
    const heading = (await page.getByRole("heading", { level: 2, name: /^importer / }).textContent()) ?? ""
    const id = heading.split(" ")[1] ?? ""
    await status(page, `Started importer ${id.slice(-8)}`)
    const row = rowOf(page, "importer", id)
    await untilCell(row, "running")
    const label = `importer ${id.slice(-8)}`
    await untilProgress(page, label, 50)
    await page.getByText('Status: running, attempt 1, "importing"').waitFor()
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-progress-50.png`, fullPage: true })
    importGate.open()
    await untilProgress(page, label, 100)
    await untilCell(row, "completed")
    await page.getByLabel("Output").filter({ hasText: '"imported": 10' }).waitFor()
    await page
      .getByRole("list", { name: "Events" })
      .getByText(/ProgressReported 100%/)
      .waitFor()
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-progress-100.png`, fullPage: true })
    assert.deepStrictEqual(problems, [])
  })

  it("follows a task that another runtime runs (a worker's), whose events never reach this server", async () => {
    const id = await Effect.runPromise(
      Effect.gen(function* () {
        const other = yield* Runtime.make({ plugins: [ProgressPlugin.make({ flushInterval: "50 millis" })] })
        return (yield* other.submit(elsewhere, {})).id
      }).pipe(Effect.provideContext(stores), Scope.provide(scope))
    )
    const { page, problems } = await openDashboard(open)
    const row = rowOf(page, "elsewhere", id)
    await untilCell(row, "running")
    await untilProgress(page, `elsewhere ${id.slice(-8)}`, 50)
    elsewhereGate.open()
    // read again every few seconds
    await untilProgress(page, `elsewhere ${id.slice(-8)}`, 100)
    await untilCell(row, "completed")
    assert.deepStrictEqual(problems, [])
  })

  it("pauses, resumes and cancels a running task with its buttons, showing why it is where it is", async () => {
    const { page, problems } = await openDashboard(open)
    await status(page, /^Live: /)
    const id = await start(open, "worker", {})
    const row = rowOf(page, "worker", id)
    await untilCell(row, "running") // it came in through the event stream
    await row.getByRole("button").click()
    await page.getByText(/^Why: it runs on /).waitFor()
    await page.getByRole("button", { name: "Pause" }).click()
    await untilCell(row, "suspended")
    await page.getByText("Why: it is paused until resumed").waitFor()
    await page.getByRole("button", { name: "Resume" }).click()
    await untilCell(row, "running")
    await page.getByRole("button", { name: "Cancel" }).click()
    await untilCell(row, "cancelled")
    await status(page, `worker ${id.slice(-8)}: cancel asked, now cancelled`)
    await page.getByText("Status: cancelled, attempt").waitFor()
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-cancelled.png`, fullPage: true })
    assert.deepStrictEqual(problems, [])
  })

  it("sends a signal with a JSON payload; a payload the task's Schema refuses is shown and delivers nothing", async () => {
    const id = await start(open, "approver", {})
    const { page, problems } = await openDashboard(open)
    const row = rowOf(page, "approver", id)
    await untilCell(row, "suspended")
    await row.getByRole("button").click()
    await page.getByText('Why: it waits for the signal "approval"').waitFor()
    await page.getByLabel("Signal name").fill("approval")
    await page.getByLabel("Signal payload (JSON)").fill('{ "approved": "yes" }')
    await page.getByRole("button", { name: "Send signal" }).click()
    await status(page, /^Failed: .*approved/s)
    await page.getByLabel("Signal payload (JSON)").fill('{ "approved": true, "by": "ada" }')
    await page.getByRole("button", { name: "Send signal" }).click()
    await status(page, `Signal approval sent to approver ${id.slice(-8)}`)
    await untilCell(row, "completed")
    await page.getByLabel("Output").filter({ hasText: '"by": "ada"' }).waitFor()
    assert.deepStrictEqual(problems, [])
  })

  it("compares two snapshots of a task", async () => {
    const id = await start(open, "notes", {})
    const { page, problems } = await openDashboard(open)
    const row = rowOf(page, "notes", id)
    await untilCell(row, "completed")
    await row.getByRole("button").click()
    await page.getByLabel("From version").selectOption("1")
    await page.getByLabel("To version").selectOption("2")
    await page.getByRole("button", { name: "Compare" }).click()
    await status(page, "Compared versions 1 and 2")
    const diff = await page.getByLabel("Snapshot diff").textContent()
    assert.strictEqual(diff, '~ $.title: "draft" -> "final"\n+ $.tags[1]: "b"')
    assert.deepStrictEqual(problems, [])
  })

  it("shows a run's tree with each agent's status and progress, live", async () => {
    const id = await start(open, "supervisor", {})
    const { page, problems } = await openDashboard(open)
    const row = rowOf(page, "supervisor", id)
    await untilCell(row, "suspended") // waiting for its agents
    await row.getByRole("button").click()
    await page.getByText("Why: it waits for 2 of 2 children").waitFor()
    await page.getByRole("button", { name: "Show run tree" }).click()
    await status(page, "Run tree of supervisor: 3 tasks")
    const agents = page.getByRole("list", { name: "Agents" })
    const agentItem = (path: string) =>
      agents.getByRole("listitem").filter({ has: page.getByRole("button", { name: `Open ${path}`, exact: true }) })
    assert.deepStrictEqual(await agents.getByRole("button").allTextContents(), [
      "supervisor",
      "supervisor/research",
      "supervisor/write"
    ])
    await agentItem("supervisor/research").getByText("running", { exact: true }).waitFor()
    await untilProgress(page, "supervisor/research", 50)
    await untilProgress(page, "supervisor/write", 50)
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-tree-running.png`, fullPage: true })
    agentGates.get("research")?.open()
    await agentItem("supervisor/research").getByText("completed", { exact: true }).waitFor()
    await untilProgress(page, "supervisor/research", 100)
    await agentItem("supervisor/write").getByText("running", { exact: true }).waitFor()
    agentGates.get("write")?.open()
    await agentItem("supervisor").getByText("completed", { exact: true }).waitFor()
    await untilCell(row, "completed")
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-tree-completed.png`, fullPage: true })
    // an agent opens from the tree
    await agentItem("supervisor/write").getByRole("button").click()
    await page.getByRole("heading", { level: 2, name: /^agent / }).waitFor()
    assert.deepStrictEqual(problems, [])
  })

  it("asks for the API's token once, refuses a wrong one, and then follows tasks live with it", async () => {
    const { page, problems } = await openDashboard(guarded)
    await status(page, "Token required")
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-token-prompt.png`, fullPage: true })
    const tokenField = page.getByLabel("API token")
    await tokenField.fill("not-the-right-token-at-all")
    await page.getByRole("button", { name: "Use token" }).click()
    await status(page, "Token refused: enter another")
    await tokenField.fill(TOKEN)
    await page.getByRole("button", { name: "Use token" }).click()
    await status(page, /^Live: \d+ tasks$/)
    assert.isFalse(await page.getByRole("form", { name: "Sign in" }).isVisible())
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-signed-in.png`, fullPage: true })
    // the event stream carries the token: a task started now shows up
    const id = await start(guarded, "worker", {}, { authorization: `Bearer ${TOKEN}` })
    const row = rowOf(page, "worker", id)
    await untilCell(row, "running")
    // kept for the tab: a reload asks nothing
    await page.reload()
    await status(page, /^Live: \d+ tasks$/)
    assert.isFalse(await page.getByRole("form", { name: "Sign in" }).isVisible())
    await row.getByRole("button").click()
    await page.getByRole("button", { name: "Cancel" }).click()
    await untilCell(row, "cancelled")
    assert.deepStrictEqual(problems, [])
  })
})
