/**
 * The dashboard's script, served as `/ui/dashboard.js`: a plain ES module with no imports, kept as a string so that
 * nothing is built or bundled. It reads the API it is served with (the folder above its own URL, so the app may be
 * mounted under any prefix), asks once for a bearer token when the API answers 401, and reads event streams with
 * `fetch`, which can send that token where `EventSource` cannot.
 */

// String.raw: the script's own escapes ("\n\n") reach the browser as written. It holds no backtick and no "${".
export const dashboardScript: string = String.raw`// The Waypoint dashboard: plain DOM over the HTTP API it is served with. Nothing to build, nothing from elsewhere;
// text goes in with textContent only (the page runs under Trusted Types).
const api = new URL("..", import.meta.url) // served at <prefix>/ui/dashboard.js: the API is <prefix>/
const TOKEN_KEY = "waypoint-token"
const $ = (id) => document.getElementById(id)
const say = (text) => {
  $("status").textContent = text
}
const delay = (millis) => new Promise((resolve) => setTimeout(resolve, millis))
const short = (id) => id.slice(-8)
const pretty = (value) => (value === undefined ? "none" : JSON.stringify(value, null, 2))
const isJson = (text) => {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}
const el = (tag, attributes, ...children) => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") node.addEventListener(name, value)
    else node.setAttribute(name, value)
  }
  node.append(...children)
  return node
}
const taskPath = (id, rest) => "tasks/" + encodeURIComponent(id) + (rest ?? "")
// Whatever a click or a stream could not do is said in the status line.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault()
  say("Failed: " + (event.reason?.message ?? event.reason))
})

// --- Credentials: asked once, kept for the tab; every request refused meanwhile waits for the same answer.
let token = sessionStorage.getItem(TOKEN_KEY)
let signingIn = null
const askToken = (message) => {
  say(message)
  token = null
  sessionStorage.removeItem(TOKEN_KEY)
  signingIn ??= new Promise((resolve) => {
    $("sign-in").hidden = false
    $("token").focus()
    $("sign-in").onsubmit = (event) => {
      event.preventDefault()
      token = $("token").value.trim()
      sessionStorage.setItem(TOKEN_KEY, token)
      $("token").value = ""
      $("sign-in").hidden = true
      signingIn = null
      say("Signed in")
      resolve()
    }
  })
  return signingIn
}

const call = async (path, init = {}) => {
  for (;;) {
    const sent = token
    const headers = sent ? { ...init.headers, authorization: "Bearer " + sent } : init.headers
    const response = await fetch(new URL(path, api), { ...init, headers })
    if (response.status !== 401) return response
    await response.body?.cancel()
    // A token given while this request was on its way is tried before asking again.
    if (token === sent) await askToken(sent ? "Token refused: enter another" : "Token required")
  }
}
const problem = async (response) => {
  const body = await response.json().catch(() => ({}))
  return body.detail ?? body.title ?? response.status + " " + response.statusText
}
const getJson = async (path) => {
  const response = await call(path)
  if (!response.ok) throw new Error(await problem(response))
  return response.json()
}
/** The body of a 2xx answer (null when it has none), or undefined after saying why it failed. */
const send = async (path, body) => {
  const init = body === undefined ? {} : { headers: { "content-type": "application/json" }, body }
  const response = await call(path, { method: "POST", ...init })
  if (!response.ok) return say("Failed: " + (await problem(response)))
  return response.status === 202 ? null : response.json()
}

// --- Server-Sent Events read with fetch, which can send the token (EventSource cannot). Resolves once subscribed;
// after an error it reconnects with Last-Event-ID, and after an end too unless untilEnd (a task's stream ends).
const follow = (path, onEvent, options) =>
  new Promise((subscribed) => {
    let lastId = options.lastId ?? null
    let failed = false
    const read = async () => {
      const headers = lastId === null ? {} : { "last-event-id": lastId }
      const response = await call(path, { signal: options.signal, headers })
      if (!response.ok) throw new Error(await problem(response))
      subscribed()
      if (failed) say("Reconnected")
      failed = false
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ""
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        buffer += value
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          const fields = {}
          for (const line of buffer.slice(0, end).split("\n")) {
            const at = line.indexOf(":")
            if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trimStart()
          }
          buffer = buffer.slice(end + 2)
          if (fields.id !== undefined) lastId = fields.id
          if (fields.data !== undefined) onEvent(JSON.parse(fields.data))
        }
      }
    }
    const loop = async () => {
      while (!options.signal?.aborted) {
        try {
          await read()
          if (options.untilEnd) return
        } catch (error) {
          subscribed()
          if (options.signal?.aborted) return
          failed = true
          say("Reconnecting: " + error.message)
        }
        await delay(1000)
      }
    }
    loop()
  })

// Shows what load reads, then follows path. Events that come while a load runs are applied after it, in order:
// every change publishes an event, so the last one applied is at least as new as what the load read.
const liveView = (path, load, apply, options) => {
  let missed = null
  let again = false
  const reload = async () => {
    if (missed !== null) return void (again = true)
    missed = []
    try {
      await load()
    } catch (error) {
      say("Failed: " + error.message)
    }
    const events = missed
    missed = null
    for (const event of events) apply(event)
    if (again) {
      again = false
      reload()
    }
  }
  follow(path, (event) => (missed === null ? apply(event) : missed.push(event)), options).then(reload)
  return reload
}

const showProgress = (bar, percent, message) => {
  bar.value = percent
  bar.title = message ?? ""
  bar.hidden = false
}
const progressBar = (label) => {
  const bar = el("progress", { max: "100", "aria-label": "Progress of " + label })
  bar.hidden = true
  return bar
}

// --- The task list: newest first, statuses and progress live from /events.
const rows = new Map()
const row = (task) => {
  let entry = rows.get(task.id)
  if (entry !== undefined) return entry
  const label = task.name + " " + short(task.id)
  const open = el("button", { type: "button", "aria-label": "Open " + label, click: () => openTask(task.id) }, label)
  entry = { status: el("td", {}, task.status), bar: progressBar(label) }
  entry.tr = el("tr", {}, el("td", {}, open), entry.status, el("td", {}, entry.bar))
  rows.set(task.id, entry)
  $("tasks").prepend(entry.tr)
  if (rows.size > 500) {
    const [oldest, { tr }] = rows.entries().next().value
    rows.delete(oldest)
    tr.remove()
  }
  return entry
}
const loadTasks = async () => {
  let items = []
  let cursor
  for (let pages = 0; pages < 10 && (pages === 0 || cursor); pages++) {
    const page = await getJson("tasks?limit=1000" + (cursor ? "&cursor=" + cursor : ""))
    items = items.concat(page.items).slice(-200) // oldest first: keep the newest
    cursor = page.nextCursor
  }
  for (const task of items) row(task).status.textContent = task.status
  // A list carries no progress: read it for the tasks still going.
  const going = items.filter((task) => task.status === "running" || task.status === "suspended").slice(-20)
  for (const task of await Promise.all(going.map((task) => getJson(taskPath(task.id))))) {
    if (task.progress?.percent !== undefined) showProgress(row(task).bar, task.progress.percent, task.progress.message)
  }
  say("Live: " + rows.size + " tasks")
}
const applyToList = (event) => {
  const entry = row({ id: event.taskId, name: event.taskName, status: event.status ?? "running" })
  if (event._tag === "StatusChanged") entry.status.textContent = event.status
  if (event._tag === "ProgressReported") showProgress(entry.bar, event.percent, event.message)
}
const loadStartable = async () => {
  const document = await getJson("openapi.json")
  for (const [path, operations] of Object.entries(document.paths)) {
    if (operations.post?.operationId?.startsWith("start_")) {
      $("start-name").append(el("option", {}, decodeURIComponent(path.slice("/tasks/".length))))
    }
  }
  $("start").hidden = $("start-name").options.length === 0
}
$("start").onsubmit = async (event) => {
  event.preventDefault()
  const name = $("start-name").value
  if (!isJson($("start-input").value)) return say("Input is not JSON")
  const task = await send("tasks/" + encodeURIComponent(name), $("start-input").value)
  if (task) say("Started " + name + " " + short(task.id))
  if (task) openTask(task.id)
}

// --- One task: its state, why it is there, output, state, snapshots, events, and the controls.
const why = (inspection) => {
  const children = inspection.children
  const reasons = {
    finished: "it has finished",
    running: "it runs" + (inspection.leaseOwner ? " on " + inspection.leaseOwner : ""),
    "lease-expired": "its lease expired: a worker will take it over",
    "waiting-signal": 'it waits for the signal "' + inspection.signal + '"',
    "waiting-children": children ? "it waits for " + children.remaining + " of " + children.total + " children" : "",
    "queued-behind-siblings": "it is queued behind its siblings",
    paused: "it is paused until resumed",
    "sleeping-until": "it sleeps until " + inspection.runAt,
    "queued-behind-limit": "its maxParallel limit is reached",
    queued: "it waits for a worker"
  }
  return reasons[inspection.reason] ?? inspection.reason
}
const describe = (event) =>
  [event.at.slice(11, 23), event._tag, event.status, event.percent === undefined ? "" : event.percent + "%"]
    .concat([event.message, event.error?.message, event.delta])
    .filter(Boolean)
    .join(" ")
const optionalJson = async (path) => {
  const response = await call(path)
  return response.ok ? response.json() : undefined
}

let current = null
const openTask = (id) => {
  current?.stop.abort()
  current = { id, label: short(id), stop: new AbortController() }
  $("detail").hidden = false
  $("events").replaceChildren()
  $("diff-result").textContent = ""
  const onEvent = (event) => {
    $("events").append(el("li", {}, describe(event)))
    if ($("events").children.length > 200) $("events").firstElementChild.remove()
    if (event._tag === "StatusChanged") refreshTask(id)
    // What a task says reaches its store at the next flush: the event is newer.
    if (event._tag === "StatusMessage") {
      current.said = event.message
      showState()
    }
  }
  follow(taskPath(id, "/events"), onEvent, { signal: current.stop.signal, lastId: "0", untilEnd: true })
  return refreshTask(id)
}
const refreshTask = async (id) => {
  const [task, state, snapshots] = await Promise.all([
    getJson(taskPath(id)),
    optionalJson(taskPath(id, "/state")),
    optionalJson(taskPath(id, "/snapshots"))
  ])
  if (current?.id !== id) return
  current.label = task.name + " " + short(id)
  current.task = task
  $("detail-title").textContent = task.name + " " + id
  showState()
  $("detail-why").textContent = "Why: " + why(task.inspection)
  $("detail-output").textContent = pretty(task.output)
  $("detail-state-json").textContent = state === undefined ? "not kept" : pretty(state.entries)
  const versions = (snapshots?.items ?? []).map((snapshot) => String(snapshot.version)) // newest first
  for (const [select, pick] of [
    [$("diff-from"), versions[1] ?? versions[0]],
    [$("diff-to"), versions[0]]
  ]) {
    const keep = versions.includes(select.value) ? select.value : pick
    select.replaceChildren(...versions.map((version) => el("option", {}, version)))
    if (keep !== undefined) select.value = keep
  }
  $("diff").hidden = versions.length === 0
  if (versions.length === 0) $("diff-result").textContent = snapshots === undefined ? "not kept" : "none"
}
const showState = () => {
  const task = current.task
  if (task === undefined) return
  const error = task.error ? ", " + task.error.tag + ": " + task.error.message : ""
  const said = current.said ?? task.progress?.status
  const saying = said ? ', "' + said + '"' : ""
  $("detail-state").textContent = "Status: " + task.status + ", attempt " + task.attempt + error + saying
}
const control = (action, done) => async () => {
  const task = await send(taskPath(current.id, "/" + action))
  if (task) say(current.label + ": " + done + ", now " + task.status)
}
$("cancel").onclick = control("cancel", "cancel asked")
$("pause").onclick = control("pause", "pause asked")
$("resume").onclick = control("resume", "resumed")
$("show-tree").onclick = () => showTree(current.id)
$("signal").onsubmit = async (event) => {
  event.preventDefault()
  const name = $("signal-name").value.trim()
  if (!isJson($("signal-payload").value)) return say("Signal payload is not JSON")
  const sent = await send(taskPath(current.id, "/signals/" + encodeURIComponent(name)), $("signal-payload").value)
  if (sent === null) say("Signal " + name + " sent to " + current.label)
}

// Every leaf path of a JSON value, with its value as JSON.
const flatten = (value, path, out) => {
  if (value !== null && typeof value === "object" && Object.keys(value).length > 0) {
    for (const [key, item] of Object.entries(value)) {
      flatten(item, Array.isArray(value) ? path + "[" + key + "]" : path + "." + key, out)
    }
  } else out.set(path, JSON.stringify(value))
  return out
}
$("diff").onsubmit = async (event) => {
  event.preventDefault()
  const versions = [$("diff-from").value, $("diff-to").value]
  const [from, to] = await Promise.all(versions.map((v) => getJson(taskPath(current.id, "/snapshots/" + v))))
  const before = flatten(from.data, "$", new Map())
  const after = flatten(to.data, "$", new Map())
  const lines = []
  for (const [path, value] of before) {
    if (!after.has(path)) lines.push("- " + path + ": " + value)
    else if (after.get(path) !== value) lines.push("~ " + path + ": " + value + " -> " + after.get(path))
  }
  for (const [path, value] of after) if (!before.has(path)) lines.push("+ " + path + ": " + value)
  $("diff-result").textContent = lines.length === 0 ? "No difference" : lines.join("\n")
  say("Compared versions " + from.version + " and " + to.version)
}

// --- A run's tree: each agent by key path, its status and progress live from the tree's events.
let tree = null
const showTree = (rootId) => {
  tree?.stop.abort()
  const mine = { stop: new AbortController(), nodes: new Map(), live: new Map() }
  tree = mine
  $("tree").hidden = false
  const load = async () => {
    const view = await getJson(taskPath(rootId, "/tree"))
    if (tree !== mine) return
    mine.nodes.clear()
    const items = view.nodes.map((node) => {
      const entry = { status: el("span", {}, node.status), bar: progressBar(node.path) }
      const progress = mine.live.get(node.id) ?? node.progress // events are newer than the stored progress
      if (progress?.percent !== undefined) showProgress(entry.bar, progress.percent, progress.message)
      mine.nodes.set(node.id, entry)
      const open = el("button", { type: "button", "aria-label": "Open " + node.path, click: () => openTask(node.id) })
      open.append(node.path)
      const item = el("li", {}, open, " ", entry.status, " ", entry.bar)
      item.style.paddingLeft = node.depth * 1.5 + "em"
      return item
    })
    $("tree-nodes").replaceChildren(...items)
    $("tree-title").textContent = "Run tree of " + view.nodes[0].path
    say("Run tree of " + view.nodes[0].path + ": " + view.nodes.length + " tasks")
  }
  const apply = (event) => {
    if (event._tag === "ProgressReported") mine.live.set(event.taskId, event)
    const entry = mine.nodes.get(event.taskId)
    if (entry === undefined) return reload() // an agent started after the read
    if (event._tag === "StatusChanged") entry.status.textContent = event.status
    if (event._tag === "ProgressReported") showProgress(entry.bar, event.percent, event.message)
  }
  const reload = liveView(taskPath(rootId, "/tree/events"), load, apply, { signal: mine.stop.signal })
  mine.reload = reload
}

// Tasks that worker processes run send no events to this server: read the unfinished ones shown again every few
// seconds (at most 20 of the list, the open task, the open tree).
const ended = (status) => status === "completed" || status === "failed" || status === "cancelled"
setInterval(async () => {
  const going = [...rows.entries()].filter(([, entry]) => !ended(entry.status.textContent)).slice(-20)
  const tasks = await Promise.all(going.map(([id]) => getJson(taskPath(id)).catch(() => undefined)))
  for (const task of tasks) {
    if (task === undefined) continue
    const entry = row(task)
    entry.status.textContent = task.status
    if (task.progress?.percent !== undefined) showProgress(entry.bar, task.progress.percent, task.progress.message)
  }
  if (current !== null && !ended(current.task?.status)) refreshTask(current.id).catch(() => {})
  if (tree !== null && [...tree.nodes.values()].some((entry) => !ended(entry.status.textContent))) tree.reload?.()
}, 3000)

say("Connecting")
liveView("events", () => Promise.all([loadTasks(), loadStartable()]), applyToList, {})
`
