/**
 * The dashboard's page, served as `/ui`: markup only. Its script and style come from `/ui/dashboard.js` and
 * `/ui/dashboard.css` (relative URLs, so the app may be mounted under any prefix); it holds no data and no inline
 * code, which lets its Content-Security-Policy allow scripts and styles from this origin alone.
 */

export const dashboardPage: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Waypoint</title>
<link rel="stylesheet" href="ui/dashboard.css">
<script type="module" src="ui/dashboard.js"></script>
</head>
<body>
<header>
  <h1>Waypoint</h1>
  <p id="status" role="status" aria-live="polite">Loading</p>
</header>
<form id="sign-in" aria-label="Sign in" hidden>
  <label>API token <input id="token" type="password" autocomplete="off" required></label>
  <button>Use token</button>
</form>
<main>
  <section aria-labelledby="tasks-title">
    <h2 id="tasks-title">Tasks</h2>
    <form id="start" aria-label="Start a task" hidden>
      <label>Task to start <select id="start-name"></select></label>
      <label>Input (JSON) <textarea id="start-input" rows="1">{}</textarea></label>
      <button>Start</button>
    </form>
    <table aria-label="Tasks">
      <thead><tr><th>Task</th><th>Status</th><th>Progress</th></tr></thead>
      <tbody id="tasks"></tbody>
    </table>
  </section>
  <section id="detail" aria-labelledby="detail-title" hidden>
    <h2 id="detail-title">Task</h2>
    <p id="detail-state"></p>
    <p id="detail-why"></p>
    <div class="actions">
      <button id="cancel" type="button">Cancel</button>
      <button id="pause" type="button">Pause</button>
      <button id="resume" type="button">Resume</button>
      <button id="show-tree" type="button">Show run tree</button>
    </div>
    <form id="signal" aria-label="Send a signal">
      <label>Signal name <input id="signal-name" required></label>
      <label>Signal payload (JSON) <textarea id="signal-payload" rows="1">{}</textarea></label>
      <button>Send signal</button>
    </form>
    <h3>Output</h3>
    <pre id="detail-output" aria-label="Output"></pre>
    <h3>State</h3>
    <pre id="detail-state-json" aria-label="State"></pre>
    <h3>Snapshots</h3>
    <form id="diff" aria-label="Compare snapshots" hidden>
      <label>From version <select id="diff-from"></select></label>
      <label>To version <select id="diff-to"></select></label>
      <button>Compare</button>
    </form>
    <pre id="diff-result" aria-label="Snapshot diff"></pre>
    <h3>Events</h3>
    <ol id="events" aria-label="Events"></ol>
  </section>
  <section id="tree" aria-labelledby="tree-title" hidden>
    <h2 id="tree-title">Run tree</h2>
    <ul id="tree-nodes" aria-label="Agents"></ul>
  </section>
</main>
</body>
</html>
`
