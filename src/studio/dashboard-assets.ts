/**
 * The dashboard's stylesheet and script (served as /static/dashboard.css and /static/dashboard.js; the page
 * CSP allows scripts from the studio only). The styles build on the web app's variables (assets.ts).
 */

export const DASHBOARD_STYLESHEET = `
.dash-head { display: flex; align-items: flex-start; justify-content: space-between; gap: 20px; }
.dash-head .lead { margin-bottom: 22px; }
.live { display: inline-flex; align-items: center; gap: 8px; white-space: nowrap; font-size: .85rem; font-weight: 600; color: var(--accent-dark); background: #e7f7f1; border-radius: 999px; padding: 4px 12px; margin-top: 8px; }
.live .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--accent); animation: pulse 2s ease-in-out infinite; }
.live.stale { color: #8a5a00; background: #fdf3dc; }
.live.stale .dot { background: #d69e2e; animation: none; }
@keyframes pulse { 0%, 100% { opacity: 1; } 50% { opacity: .3; } }
.small { font-size: .82rem; }
.stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 14px; margin-bottom: 18px; }
.card.stat { padding: 14px 16px; }
.stat .label { color: var(--muted); font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.stat .value { font-size: 1.7rem; font-weight: 700; line-height: 1.25; margin: 2px 0; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
@media (max-width: 800px) { .charts { grid-template-columns: 1fr; } .dash-head { flex-direction: column; gap: 0; } table.dash { display: block; overflow-x: auto; } }
.card.chart h3 { margin: 0; }
.card.chart p { margin: 0 0 10px; }
svg.bars { display: block; width: 100%; height: auto; }
svg.bars .bar { fill: var(--accent); }
svg.bars .bar:hover { fill: var(--accent-dark); }
svg.bars .bar.zero { fill: var(--line); }
svg.bars .axis { stroke: #cfd6e0; stroke-width: 1; }
svg.bars .grid-line { stroke: var(--line); stroke-width: 1; stroke-dasharray: 4 4; }
svg.bars .tick { fill: var(--muted); font-size: 10px; font-family: system-ui, sans-serif; }
svg.bars .empty-note { fill: var(--muted); font-size: 12px; font-family: system-ui, sans-serif; }
.card.empty { color: var(--muted); text-align: center; padding: 28px; }
table.dash td { vertical-align: middle; }
table.dash th.num, table.dash td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.dash .spec { display: inline-block; margin-right: 8px; white-space: nowrap; }
table.dash .pill { font-size: .8rem; display: inline-block; margin: 2px 2px 2px 0; white-space: nowrap; }
code.addr { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 1px 6px; white-space: nowrap; }
.ok-dot { display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: var(--accent); margin-right: 6px; vertical-align: middle; }
.state { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: .82rem; font-weight: 600; white-space: nowrap; }
.state.running { background: #fdf3dc; color: #8a5a00; }
.state.done { background: #e7f7f1; color: var(--accent-dark); }
.state.failed { background: #fdecea; color: #8a1f14; }
.source { margin-top: 24px; word-break: break-word; }
`;

/**
 * Keeps the dashboard live without a reload: every few seconds it fetches the page's sections, rendered by
 * the server as on the first load, and swaps them in when they changed. It waits while the tab is hidden,
 * and says "Reconnecting" while the studio does not answer.
 */
export const DASHBOARD_SCRIPT = `
(function () {
  var box = document.querySelector('[data-dashboard]');
  var live = document.querySelector('[data-live]');
  if (!box || !live) return;
  var every = Number(live.getAttribute('data-poll-ms')) || 3000;
  var last = box.innerHTML;
  function mark(ok) {
    live.className = ok ? 'live' : 'live stale';
    live.lastChild.textContent = ok ? 'Live' : 'Reconnecting';
  }
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch('/dashboard/live', { cache: 'no-store', credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (text) {
        mark(true);
        if (text !== last) { last = text; box.innerHTML = text; }
      })
      .catch(function () { mark(false); })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
`;
