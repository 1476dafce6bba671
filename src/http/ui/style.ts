/** The dashboard's style, served as `/ui/dashboard.css`: a file of its own, as the page's CSP allows no inline style. */

export const dashboardStyle: string = `:root { font: 14px/1.4 system-ui, sans-serif; color-scheme: light dark; }
body { margin: 0 auto; max-width: 90rem; padding: 0 1rem 2rem; }
header { display: flex; align-items: baseline; gap: 1rem; border-bottom: 1px solid #8884; }
h1 { font-size: 1.3rem; }
#status { margin: 0; opacity: 0.8; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 1.5rem; }
[hidden] { display: none !important; }
form { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: end; margin: 0.5rem 0; }
label { display: flex; flex-direction: column; font-size: 0.85rem; }
textarea { font: 0.85rem ui-monospace, monospace; min-width: 12rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #8882; }
td button, #tree-nodes button { font: inherit; background: none; border: none; padding: 0; color: LinkText; cursor: pointer; text-decoration: underline; }
progress { width: 8rem; }
pre { background: #8881; padding: 0.5rem; overflow: auto; max-height: 16rem; font-size: 0.85rem; }
#events { font: 0.8rem ui-monospace, monospace; max-height: 16rem; overflow: auto; }
#tree-nodes { list-style: none; padding: 0; }
#tree-nodes li { padding: 0.15rem 0; }
.actions { display: flex; gap: 0.5rem; }
`
