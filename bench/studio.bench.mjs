// The studio (`lilypad studio`) on the embedded network: what it adds on top of the network for one
// cowsay job (API request to result over SSE, against the same job through the job network alone, in the
// same run), and how many reads a second it answers with 50 clients at once (`GET /v1/models`, and a
// job's status `GET /api/v1/jobs/:id`). The studio runs in a process of its own (bench/studio-server.mjs).
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { median, root, writeResults } from './lib.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 7);
const clients = 50;
const loadSeconds = Number(process.env.BENCH_LOAD_SECONDS ?? 5);

const child = spawn(process.execPath, [path.join(root, 'bench', 'studio-server.mjs')], { cwd: root, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
const ready = JSON.parse(await new Promise((resolve, reject) => {
  createInterface({ input: child.stdout }).once('line', resolve);
  child.once('exit', (code) => reject(new Error(`the studio exited with code ${code}`)));
}));
const headers = { authorization: `Bearer ${ready.key}`, 'content-type': 'application/json' };

async function viaStudio(message) {
  const started = performance.now();
  const posted = await fetch(`${ready.url}/api/v1/jobs`, { method: 'POST', headers, body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: message } }) });
  if (posted.status !== 201) throw new Error(`POST /api/v1/jobs: ${posted.status} ${await posted.text()}`);
  const { id } = await posted.json();
  // The SSE stream ends after its `result` event.
  const events = await (await fetch(`${ready.url}/api/v1/jobs/${id}/events`, { headers })).text();
  const result = JSON.parse(/event: result\ndata: (.*)\n/.exec(events)?.[1] ?? 'null');
  if (result?.status !== 'succeeded') throw new Error(`studio job ${id} did not succeed: ${events.slice(-500)}`);
  return { ms: performance.now() - started, id, cid: result.cid };
}

function viaNetwork(message) {
  return new Promise((resolve, reject) => {
    child.once('message', (reply) => (reply.exitCode === 0 && !reply.error ? resolve(reply) : reject(new Error(`network run failed: ${reply.error}`))));
    child.send({ module: 'cowsay:v0.0.1', inputs: { Message: message } });
  });
}

/** `clients` loops reading `url` for `loadSeconds`: requests a second, and the median and 99th percentile latency. */
async function load(url) {
  const latencies = [];
  let failures = 0;
  const until = performance.now() + loadSeconds * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    while (performance.now() < until) {
      const started = performance.now();
      const response = await fetch(url, { headers });
      await response.arrayBuffer();
      if (response.status !== 200) failures++;
      latencies.push(performance.now() - started);
    }
  }));
  if (failures > 0) throw new Error(`${failures} of ${latencies.length} reads of ${url} were not 200`);
  latencies.sort((a, b) => a - b);
  return {
    requestsPerSecond: Math.round(latencies.length / loadSeconds),
    medianMs: Number(median(latencies).toFixed(1)),
    p99Ms: Number(latencies[Math.floor(latencies.length * 0.99)].toFixed(1)),
  };
}

const studioRuns = [];
const networkRuns = [];
try {
  // One warm-up of each, then alternate so that both see the same machine.
  await viaStudio('warm-up');
  await viaNetwork('warm-up');
  for (let i = 0; i < runs; i++) {
    studioRuns.push(await viaStudio(`moo ${i}`));
    networkRuns.push(await viaNetwork(`moo ${i}`));
  }
  const models = await load(`${ready.url}/v1/models`);
  const status = await load(`${ready.url}/api/v1/jobs/${studioRuns[0].id}`);

  const studioMs = median(studioRuns.map((r) => r.ms));
  const networkMs = median(networkRuns.map((r) => r.ms));
  const figures = {
    runs,
    studioJobMedianMs: Math.round(studioMs),
    networkJobMedianMs: Math.round(networkMs),
    addedMs: Math.round(studioMs - networkMs),
    ratio: Number((studioMs / networkMs).toFixed(2)),
    clients,
    loadSeconds,
    models,
    jobStatus: status,
  };
  console.log('studio: cowsay through the API (POST, then SSE to the result) against the job network alone, median of', runs);
  console.log(`  through the studio      ${figures.studioJobMedianMs} ms`);
  console.log(`  job network alone      ${figures.networkJobMedianMs} ms`);
  console.log(`  added by the studio    ${figures.addedMs} ms (ratio ${figures.ratio}x)`);
  console.log(`  GET /v1/models          ${models.requestsPerSecond} requests/s with ${clients} clients (median ${models.medianMs} ms, p99 ${models.p99Ms} ms)`);
  console.log(`  GET /api/v1/jobs/:id    ${status.requestsPerSecond} requests/s with ${clients} clients (median ${status.medianMs} ms, p99 ${status.p99Ms} ms)`);
  console.log('  written to', writeResults('studio', figures));
} finally {
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
  rmSync(ready.dataDir, { recursive: true, force: true });
}
