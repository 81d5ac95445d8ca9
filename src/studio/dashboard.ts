/**
 * The public network dashboard (`/dashboard`, no sign-in): the providers of the studio's job network with
 * their machines, prices, modules and jobs done, the open offers, the deals in flight and finished, recent
 * job prices and jobs per minute, read through one market view (job-creator/market-view.ts: the chain for
 * deals, the solver for offers, each checked). The page is server-rendered; its script fetches the same
 * sections (`/dashboard/live`) every few seconds and swaps them in when they changed. `/dashboard.json` is the
 * same snapshot for programs. Every viewer shares one snapshot, read at most every 2 s.
 */
import { Hono } from 'hono';
import { html, raw } from 'hono/html';
import { formatEther } from 'viem';
import type { JobNetwork } from '../job-creator/job-network.js';
import { createMarketView, MARKET_LIMITS, type MarketDeal, type MarketSnapshot, type MarketView } from '../job-creator/market-view.js';
import type { MachineSpec } from '../protocol/machine.js';
import { toWire } from '../protocol/offers.js';
import { DASHBOARD_SCRIPT, DASHBOARD_STYLESHEET } from './dashboard-assets.js';
import { layout, type Page, type WebEnv } from './page.js';

/** How often the page asks for fresh sections. */
export const DASHBOARD_POLL_MS = 3_000;

export function createDashboard(network: Promise<JobNetwork>): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  let market: MarketView | undefined;
  let networkError: string | undefined;
  network.then(
    (opened) => (market = createMarketView(opened.market)),
    (error: unknown) => (networkError = (error as Error).message),
  );
  /** The snapshot, or what to say instead while the network starts or when it did not. */
  const current = async (): Promise<MarketSnapshot | { waiting: string }> => {
    if (market) return market.snapshot();
    return { waiting: networkError ? `The network did not start: ${networkError}` : 'The network is starting…' };
  };

  const assetHeaders = (type: string) => ({ 'content-type': `${type}; charset=utf-8`, 'cache-control': 'public, max-age=300' });
  app.get('/static/dashboard.css', (c) => c.body(DASHBOARD_STYLESHEET, 200, assetHeaders('text/css')));
  app.get('/static/dashboard.js', (c) => c.body(DASHBOARD_SCRIPT, 200, assetHeaders('text/javascript')));

  // The sections and the JSON are the same for every viewer: rendered once per snapshot.
  const rendered = new WeakMap<MarketSnapshot, { sections?: Promise<string>; json?: string }>();
  const renderedOf = (snapshot: MarketSnapshot) => {
    let entry = rendered.get(snapshot);
    if (!entry) rendered.set(snapshot, (entry = {}));
    return entry;
  };
  const sectionsOf = (snapshot: MarketSnapshot | { waiting: string }): Promise<string> | Page => {
    if ('waiting' in snapshot) return sections(snapshot);
    const entry = renderedOf(snapshot);
    return (entry.sections ??= Promise.resolve(sections(snapshot)).then(String));
  };

  app.get('/dashboard', async (c) => c.html(layout(c, 'Network', dashboardPage(raw(await sectionsOf(await current()))))));
  app.get('/dashboard/live', async (c) => c.html(await sectionsOf(await current()), 200, { 'cache-control': 'no-store' }));
  app.get('/dashboard.json', async (c) => {
    const snapshot = await current();
    if ('waiting' in snapshot) return c.json({ error: { code: 'network-not-ready', message: snapshot.waiting } }, 503);
    const entry = renderedOf(snapshot);
    entry.json ??= JSON.stringify(toWire(snapshot));
    return c.body(entry.json, 200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  });
  return app;
}

function dashboardPage(sectionsHtml: Page): Page {
  return html`<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script>
<div class="dash-head">
  <div>
    <h1>Network</h1>
    <p class="lead">The Lilypad network this studio runs its jobs on, live: who offers compute, at what price, and every deal the chain has agreed.</p>
  </div>
  <span class="live" data-live data-poll-ms="${DASHBOARD_POLL_MS}"><span class="dot"></span>Live</span>
</div>
<div data-dashboard>${sectionsHtml}</div>`;
}

/** Everything below the heading: what the page shows first and what its script swaps in. */
function sections(snapshot: MarketSnapshot | { waiting: string }): Page {
  if ('waiting' in snapshot) return html`<div class="card empty" data-waiting>${snapshot.waiting}</div>`;
  const { totals, chain } = snapshot;
  const lastTen = snapshot.jobsPerMinute.slice(-10).reduce((a, b) => a + b, 0) / 10;
  const prices = snapshot.recentPrices.map((p) => p.price).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const median = prices.length ? prices[Math.floor((prices.length - 1) / 2)]! : undefined;
  return html`${problems(snapshot)}
<div class="stats">
  ${stat('Providers', String(totals.providers), `${snapshot.providers.filter((p) => p.openOffers > 0).length} with open offers`, 'providers')}
  ${stat('Open offers', String(totals.openOffers), snapshot.matchedNotAgreed ? `${snapshot.matchedNotAgreed} matched, not yet on chain` : 'signatures verified', 'offers')}
  ${stat('In flight', String(totals.inFlight), `${totals.finished} finished`, 'in-flight')}
  ${stat('Jobs done', String(totals.jobsDone), `${lp(totals.paidOut)} paid out`, 'jobs-done')}
  ${stat('Jobs / min', lastTen.toFixed(1), 'last 10 minutes', 'jobs-per-minute')}
  ${stat('Median price', median === undefined ? '—' : lp(median), median === undefined ? 'no jobs yet' : `of the last ${prices.length} job${prices.length === 1 ? '' : 's'}`, 'median-price')}
</div>
<div class="charts">
  <div class="card chart">
    <h3>Jobs per minute</h3>
    <p class="muted small">Deals agreed on chain in each of the last ${snapshot.jobsPerMinute.length} minutes</p>
    ${barChart(
      snapshot.jobsPerMinute,
      snapshot.jobsPerMinute.map((count, i) => `${count} job${count === 1 ? '' : 's'}, ${snapshot.jobsPerMinute.length - 1 - i} min ago`),
      { left: `${snapshot.jobsPerMinute.length} min ago`, right: 'now', top: (max) => String(max), name: 'jobs-per-minute', empty: 'No jobs in the last 30 minutes' },
    )}
  </div>
  <div class="card chart">
    <h3>Recent job prices</h3>
    <p class="muted small">The price of each of the last ${MARKET_LIMITS.pricesShown} deals agreed on chain, in LP</p>
    ${barChart(
      snapshot.recentPrices.map((p) => Number(formatEther(p.price))),
      snapshot.recentPrices.map((p) => `${lp(p.price)} · deal ${p.dealId.slice(0, 10)}…`),
      { left: 'older', right: 'newest', top: (max) => `${trimNumber(max)} LP`, name: 'prices', empty: 'No deals yet' },
    )}
  </div>
</div>

<h2>Resource providers</h2>
${snapshot.providers.length === 0
  ? html`<div class="card empty">No provider has an open offer or a deal yet.</div>`
  : html`<table class="dash" data-providers>
  <thead><tr><th>Provider</th><th>Machine</th><th>Price a job</th><th>Modules</th><th class="num">Jobs done</th><th class="num">Earned</th></tr></thead>
  <tbody>${snapshot.providers.map(
    (p) => html`<tr data-provider="${p.address.toLowerCase()}">
    <td>${address(p.address)}<div class="small muted">${p.openOffers ? html`<span class="ok-dot"></span>${p.openOffers} open offer${p.openOffers === 1 ? '' : 's'}` : 'no open offer'}</div></td>
    <td>${p.machine ? machine(p.machine) : html`<span class="muted">—</span>`}</td>
    <td>${p.price ? (p.price.low === p.price.high ? lp(p.price.low) : `${lp(p.price.low)} – ${lp(p.price.high)}`) : html`<span class="muted">—</span>`}</td>
    <td>${p.modules === undefined ? html`<span class="muted">—</span>` : modules(p.modules)}</td>
    <td class="num" data-jobs-done>${p.jobsDone}<div class="small muted">of ${p.deals} deal${p.deals === 1 ? '' : 's'}</div></td>
    <td class="num">${lp(p.earned)}</td>
  </tr>`,
  )}</tbody></table>`}

<h2>Open offers</h2>
${snapshot.offers.length === 0
  ? html`<div class="card empty">No open resource offers.</div>`
  : html`<table class="dash" data-offers>
  <thead><tr><th>Offer</th><th>Provider</th><th>Machine</th><th>Price</th><th>Collateral</th><th class="num">Used</th><th>Expires</th></tr></thead>
  <tbody>${snapshot.offers.map(
    (o) => html`<tr data-offer="${o.id}">
    <td><code title="${o.id}">${o.id.slice(0, 10)}…</code></td>
    <td>${address(o.provider)}</td>
    <td>${machine(o.machine)}<div class="small">${modules(o.modules)}</div></td>
    <td data-price>${lp(o.price)}</td>
    <td>${lp(o.collateral)}</td>
    <td class="num">${o.used} / ${o.capacity.toString()}</td>
    <td>in ${duration(Number(o.expiry) * 1000 - snapshot.takenAtMs)}</td>
  </tr>`,
  )}</tbody></table>`}

<h2>Deals</h2>
${totals.dealsAgreed > snapshot.deals.length ? html`<p class="muted small">The last ${snapshot.deals.length} of ${totals.dealsAgreed} deals agreed on chain.</p>` : ''}
${snapshot.deals.length === 0
  ? html`<div class="card empty">No deal on chain yet. Run a job and it shows up here.</div>`
  : html`<table class="dash" data-deals>
  <thead><tr><th>Deal</th><th>Module</th><th>Provider</th><th>Price</th><th>State</th><th>Age</th></tr></thead>
  <tbody>${snapshot.deals.map(
    (d) => html`<tr data-deal="${d.dealId}">
    <td><code title="${d.dealId}">${d.dealId.slice(0, 10)}…</code></td>
    <td>${d.module ?? html`<span class="muted" title="the solver's record of this deal did not verify against the chain">unknown</span>`}</td>
    <td>${address(d.provider)}</td>
    <td data-price>${lp(d.price)}</td>
    <td>${statePill(d)}</td>
    <td>${d.agreedAtMs === undefined ? '—' : `${duration(snapshot.takenAtMs - d.agreedAtMs)} ago`}</td>
  </tr>`,
  )}</tbody></table>`}

<p class="source small muted">Deals, states and prices are read from chain ${chain.chainId} (deal contract <code>${chain.dealsAddress}</code>, block ${chain.readToBlock.toString()}${chain.readToBlock < chain.headBlock ? ` of ${chain.headBlock}, catching up` : ''}); offers from the solver at <code>${snapshot.solver.url}</code>, shown only when their provider's signature holds. Updated <time data-updated datetime="${new Date(snapshot.takenAtMs).toISOString()}">${new Date(snapshot.takenAtMs).toISOString().slice(11, 19)} UTC</time>.</p>`;
}

function problems(snapshot: MarketSnapshot): Page {
  const notes = [
    snapshot.chain.error ? `Cannot read the chain right now (${snapshot.chain.error}); showing what was read before.` : undefined,
    snapshot.solver.error ? `Cannot reach the solver right now (${snapshot.solver.error}); showing the offers read before.` : undefined,
    snapshot.refusedOffers.length
      ? `${snapshot.refusedOffers.length} offer${snapshot.refusedOffers.length === 1 ? '' : 's'} the solver listed did not verify and ${snapshot.refusedOffers.length === 1 ? 'is' : 'are'} not shown: ${[...new Set(snapshot.refusedOffers.map((r) => r.reason))].slice(0, 3).join('; ')}.`
      : undefined,
  ].filter((note): note is string => note !== undefined);
  return html`${notes.map((note) => html`<div class="notice error">${note}</div>`)}`;
}

function stat(label: string, value: string, detail: string, name: string): Page {
  return html`<div class="card stat" data-stat="${name}"><div class="label">${label}</div><div class="value">${value}</div><div class="small muted">${detail}</div></div>`;
}

const STATE_LOOK: Record<MarketDeal['state'], { label: string; tone: 'running' | 'done' | 'failed' }> = {
  agreed: { label: 'running', tone: 'running' },
  'results-submitted': { label: 'results in', tone: 'running' },
  'results-checked': { label: 'challenged', tone: 'running' },
  'results-accepted': { label: 'accepted', tone: 'done' },
  'mediation-accepted': { label: 'upheld by mediator', tone: 'done' },
  'mediation-rejected': { label: 'rejected by mediator', tone: 'failed' },
  'submit-timed-out': { label: 'timed out', tone: 'failed' },
  'mediation-timed-out': { label: 'mediation timed out', tone: 'failed' },
};

function statePill(deal: MarketDeal): Page {
  const look = STATE_LOOK[deal.state];
  return html`<span class="state ${look.tone}" data-state="${deal.state}" title="on chain: ${deal.state}">${look.label}</span>`;
}

function address(value: string): Page {
  return html`<code class="addr" title="${value}">${value.slice(0, 6)}…${value.slice(-4)}</code>`;
}

function machine(spec: MachineSpec): Page {
  const gpus = spec.gpu / 1000;
  const gpu = gpus > 0 ? `${trimNumber(gpus)} GPU${gpus === 1 ? '' : 's'}${spec.gpuMemory ? ` · ${gigabytes(spec.gpuMemory)} each` : ''}` : 'no GPU';
  return html`<span class="spec">${trimNumber(spec.cpu / 1000)} CPU</span><span class="spec">${gigabytes(spec.ram)} RAM</span><span class="spec">${gpu}</span>`;
}

function modules(names: string[]): Page {
  if (names.length === 0) return html`<span class="pill">any module</span>`;
  const shown = names.slice(0, 4);
  return html`${shown.map((name) => html`<span class="pill">${name}</span> `)}${names.length > shown.length ? html`<span class="muted small">+${names.length - shown.length} more</span>` : ''}`;
}

/** Megabytes as people read them: whole gigabytes from 10 GB, else one decimal place. */
function gigabytes(mb: number): string {
  const gb = mb / 1024;
  return `${gb >= 10 ? Math.round(gb) : Number(gb.toFixed(1))} GB`;
}

/** An amount of LP, to 4 significant places. */
export function lp(wei: bigint): string {
  return `${trimNumber(Number(formatEther(wei)))} LP`;
}

function trimNumber(value: number): string {
  if (value === 0) return '0';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(4)));
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/**
 * A bar chart as inline SVG: one slot per bar for the chart's full length (so that bars keep their width as
 * data arrives), the values filling the slots from the right, each bar with its title as a tooltip.
 */
function barChart(values: number[], titles: string[], labels: { left: string; right: string; top: (max: number) => string; name: string; empty: string }): Page {
  const width = 400;
  const height = 130;
  const top = 16;
  const bottom = 18;
  const slots = Math.max(values.length, 30);
  const max = Math.max(...values, 0) || 1;
  const slot = width / slots;
  const gap = Math.min(3, slot * 0.25);
  const offset = slots - values.length;
  const bars = values.map((value, i) => {
    const barHeight = value === 0 ? 1 : Math.max(2, (value / max) * (height - top - bottom));
    const x = (offset + i) * slot + gap / 2;
    const y = height - bottom - barHeight;
    return html`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(slot - gap).toFixed(1)}" height="${barHeight.toFixed(1)}" rx="1.5" class="${value === 0 ? 'bar zero' : 'bar'}"><title>${titles[i]}</title></rect>`;
  });
  const empty = values.every((value) => value === 0);
  return html`<svg class="bars" data-chart="${labels.name}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${labels.name}">
  <line x1="0" y1="${top}" x2="${width}" y2="${top}" class="grid-line"></line>
  <line x1="0" y1="${height - bottom}" x2="${width}" y2="${height - bottom}" class="axis"></line>
  ${bars}
  ${empty ? html`<text x="${width / 2}" y="${(height - bottom + top) / 2 + 4}" class="empty-note" text-anchor="middle">${labels.empty}</text>` : html`<text x="2" y="11" class="tick">${labels.top(max)}</text>`}
  <text x="2" y="${height - 4}" class="tick">${labels.left}</text>
  <text x="${width - 2}" y="${height - 4}" class="tick" text-anchor="end">${labels.right}</text>
</svg>`;
}
