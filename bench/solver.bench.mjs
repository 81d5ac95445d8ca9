// The solver's matching: 10,000 job offers matched one after another against 10,000 resource offers
// (capacity taken as deals are made), through the index (ResourceOfferIndex) and through the naive
// all-pairs matcher (matchJobOffer over every offer) in the same run, checking that both make the same
// deals. Then the order book as the solver runs it (SQLite file + index), in a child process: the time to
// take 10,000 resource offers and 10,000 job offers, and its peak memory while it holds them. Signature
// checks and HTTP are not part of these figures (they are per request, not per pair).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nowSeconds } from '../dist/lib/clock.js';
import { matchJobOffer, ResourceOfferIndex } from '../dist/solver/matcher.js';
import { writeResults } from './lib.mjs';

const RESOURCE_OFFERS = Number(process.env.SOLVER_BENCH_OFFERS ?? 10_000);
const JOB_OFFERS = Number(process.env.SOLVER_BENCH_JOBS ?? 10_000);
const TARGET_MS = 1000;
const now = nowSeconds();

// A deterministic generator, so that every run matches the same market.
function random(seed) {
  let state = seed >>> 0;
  return () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
const hex = (n, bytes) => `0x${n.toString(16).padStart(bytes * 2, '0')}`;
const mediators = Array.from({ length: 8 }, (_, i) => hex(0xa000 + i, 20));
const pick = (rand, list, n) => list.filter(() => rand() < n / list.length).concat(list[Math.floor(rand() * list.length)]).filter((v, i, a) => a.indexOf(v) === i);

function market(seed) {
  const rand = random(seed);
  const resourceOffers = Array.from({ length: RESOURCE_OFFERS }, (_, i) => {
    const terms = {
      resourceProvider: hex(0xb000 + (i % 500), 20),
      price: BigInt(1 + Math.floor(rand() * 100)) * 10n ** 16n,
      collateralMultiple: 2n,
      capacity: BigInt(1 + Math.floor(rand() * 2)),
      mediators: pick(rand, mediators, 2),
      minSubmitTimeout: 60n,
      maxJudgeWindow: 3600n,
      maxMediationTimeout: 3600n,
      detailsHash: hex(i, 32),
      nonce: BigInt(i),
      expiry: now + 3600n,
    };
    const details = {
      machine: { cpu: [1000, 2000, 8000][Math.floor(rand() * 3)], gpu: rand() < 0.2 ? 1000 : 0, ram: [1024, 4096, 16384][Math.floor(rand() * 3)] },
      engines: rand() < 0.7 ? ['wasm'] : ['wasm', 'docker'],
      modules: rand() < 0.8 ? [] : ['cowsay:v0.0.1', 'sdxl:v0.9'],
      resultsUrl: `http://127.0.0.1:${9000 + (i % 500)}/`,
    };
    return { id: hex(i, 32), offer: { terms, details, signature: '0x' }, used: 0, receivedAt: i };
  });
  const modules = ['cowsay:v0.0.1', 'sdxl:v0.9', 'llama:v3'];
  const jobOffers = Array.from({ length: JOB_OFFERS }, (_, i) => ({
    terms: {
      jobCreator: hex(0xc000 + (i % 100), 20),
      moduleId: hex(i + 1, 32),
      inputsHash: hex(i + 2, 32),
      detailsHash: hex(i + 4, 32),
      maxPrice: BigInt(20 + Math.floor(rand() * 100)) * 10n ** 16n,
      minCollateral: 0n,
      mediators: pick(rand, mediators, 2),
      mediatorSeedHash: hex(i + 3, 32),
      mediationFee: 10n ** 17n,
      submitTimeout: 600n,
      judgeWindow: 60n,
      mediationTimeout: 600n,
      nonce: BigInt(i),
      expiry: now + 600n,
    },
    moduleName: modules[Math.floor(rand() * modules.length)],
    module: { repository: 'builtin/x', commit: 'c', path: '' },
    inputs: { Message: `job ${i}` },
    machine: { cpu: [500, 1000, 4000][Math.floor(rand() * 3)], gpu: rand() < 0.1 ? 1000 : 0, ram: [256, 2048][Math.floor(rand() * 2)] },
    engine: rand() < 0.8 ? 'wasm' : 'docker',
    signature: '0x',
  }));
  return { resourceOffers, jobOffers };
}

function runIndexed() {
  const { resourceOffers, jobOffers } = market(42);
  const started = performance.now();
  const index = new ResourceOfferIndex();
  for (const stored of resourceOffers) index.add(stored);
  const indexedAt = performance.now();
  const deals = [];
  for (const job of jobOffers) {
    const result = index.match(job, now);
    if (!result.matched) {
      deals.push(null);
      continue;
    }
    result.resourceOffer.used += 1;
    index.used(result.resourceOffer);
    deals.push(result.resourceOffer.id);
  }
  return { ms: performance.now() - started, buildMs: indexedAt - started, deals };
}

function runNaive() {
  const { resourceOffers, jobOffers } = market(42);
  const started = performance.now();
  const deals = [];
  for (const job of jobOffers) {
    const result = matchJobOffer(job, resourceOffers, now);
    if (!result.matched) {
      deals.push(null);
      continue;
    }
    result.resourceOffer.used += 1;
    deals.push(result.resourceOffer.id);
  }
  return { ms: performance.now() - started, deals };
}

/** In a child: the solver's order book on a SQLite file, holding 10k + 10k offers; prints its figures. */
async function holdInChild() {
  const { OrderBook } = await import('../dist/solver/order-book.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lilypad-solver-bench-'));
  const { resourceOffers, jobOffers } = market(7);
  // Job offers first, while nothing is posted, so they all wait; then resource offers, which match them.
  const baselineRss = process.memoryUsage().rss;
  // Every provider here holds enough escrow and is connected: the figures are the matching's own.
  const book = new OrderBook(path.join(dir, 'solver.db'), { freeEscrow: () => 10n ** 40n, connected: () => true, paused: () => false });
  const started = performance.now();
  for (const job of jobOffers) book.addJobOffer(job.terms.inputsHash, job, now);
  const jobsMs = performance.now() - started;
  const held = { ...book.sizes };
  const rssHoldingJobs = process.memoryUsage().rss;
  const resourcesStarted = performance.now();
  let deals = 0;
  for (const stored of resourceOffers) {
    const outcome = book.addResourceOffer(stored.id, stored.offer, now);
    deals += outcome.deals?.length ?? 0;
  }
  const resourcesMs = performance.now() - resourcesStarted;
  const after = { ...book.sizes };
  const heapUsed = process.memoryUsage().heapUsed;
  book.close();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    JSON.stringify({
      jobOffersMs: Math.round(jobsMs),
      resourceOffersMs: Math.round(resourcesMs),
      deals,
      held,
      after,
      baselineRssMiB: +(baselineRss / 2 ** 20).toFixed(1),
      rssHoldingJobOffersMiB: +(rssHoldingJobs / 2 ** 20).toFixed(1),
      peakRssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
      heapUsedMiB: +(heapUsed / 2 ** 20).toFixed(1),
    }) + '\n',
  );
}

if (process.argv.includes('--hold')) {
  await holdInChild();
} else {
  runIndexed(); // warm-up
  const indexed = runIndexed();
  const naive = runNaive();
  const same = indexed.deals.every((id, i) => id === naive.deals[i]);
  if (!same) throw new Error('the index and the naive matcher made different deals');
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--hold'], { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`order-book child failed: ${child.stderr}`);
  const book = JSON.parse(child.stdout);
  const figures = {
    resourceOffers: RESOURCE_OFFERS,
    jobOffers: JOB_OFFERS,
    deals: indexed.deals.filter(Boolean).length,
    indexedMs: Math.round(indexed.ms),
    indexBuildMs: Math.round(indexed.buildMs),
    naiveMs: Math.round(naive.ms),
    speedup: +(naive.ms / indexed.ms).toFixed(1),
    jobOffersPerSecond: Math.round(JOB_OFFERS / (indexed.ms / 1000)),
    targetMs: TARGET_MS,
    meetsTarget: indexed.ms < TARGET_MS,
    orderBook: book,
  };
  const file = writeResults('solver', figures);
  console.log(
    `solver: ${JOB_OFFERS} job offers x ${RESOURCE_OFFERS} resource offers matched in ${figures.indexedMs} ms by the index ` +
      `(${figures.deals} deals), ${figures.naiveMs} ms all-pairs: ${figures.speedup}x; target < ${TARGET_MS} ms ${figures.meetsTarget ? 'met' : 'NOT met'}`,
  );
  console.log(
    `solver: order book on SQLite took ${book.jobOffersMs} ms for ${JOB_OFFERS} job offers and ${book.resourceOffersMs} ms for ${RESOURCE_OFFERS} resource offers ` +
      `(${book.deals} deals); peak RSS ${book.peakRssMiB} MiB (baseline ${book.baselineRssMiB} MiB); results in ${file}`,
  );
}
