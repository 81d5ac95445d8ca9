// `lilypad run cowsay:v0.0.1 -i Message=moo` on the embedded network (chain, contracts, solver, resource
// provider, mediator, job, verified download), against running the same .wasm directly with node:wasi.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, root, timeCommand, writeResults } from './lib.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 7);
const outputDir = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-'));
const cli = path.join(root, 'bin', 'lilypad.js');
const wasm = path.join(root, 'modules', 'cowsay', 'cowsay.wasm');
const env = { ...process.env };
for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS']) delete env[name];

const lilypad = [];
const direct = [];
let cid;
// One warm-up of each (file cache), then alternate so that both see the same machine load.
await timeCommand(process.execPath, [cli, 'run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--json', '--output-dir', outputDir], { env });
await timeCommand(process.execPath, [path.join(root, 'bench', 'wasi-direct.mjs'), wasm, 'moo']);
for (let i = 0; i < runs; i++) {
  const run = await timeCommand(process.execPath, [cli, 'run', 'cowsay:v0.0.1', '-i', 'Message=moo', '--json', '--output-dir', outputDir], { env });
  if (run.code !== 0) throw new Error(`lilypad run failed: ${run.stderr}`);
  const result = JSON.parse(run.stdout);
  if (cid && result.cid !== cid) throw new Error(`result CID changed between runs: ${cid} then ${result.cid}`);
  cid = result.cid;
  lilypad.push(run);
  const baseline = await timeCommand(process.execPath, [path.join(root, 'bench', 'wasi-direct.mjs'), wasm, 'moo']);
  if (baseline.code !== 0 || !baseline.stdout.includes('< moo >')) throw new Error(`direct run failed: ${baseline.stderr}`);
  direct.push(baseline);
}
rmSync(outputDir, { recursive: true, force: true });

const lilypadMs = median(lilypad.map((r) => r.ms));
const directMs = median(direct.map((r) => r.ms));
const figures = {
  runs,
  cid,
  lilypadRunMedianMs: Math.round(lilypadMs),
  lilypadRunMinMs: Math.round(Math.min(...lilypad.map((r) => r.ms))),
  lilypadRunMaxMs: Math.round(Math.max(...lilypad.map((r) => r.ms))),
  directWasiMedianMs: Math.round(directMs),
  ratio: Number((lilypadMs / directMs).toFixed(2)),
  lilypadPeakRssMiB: Number((Math.max(...lilypad.map((r) => r.peakTreeRssKiB)) / 1024).toFixed(1)),
  directPeakRssMiB: Number((Math.max(...direct.map((r) => r.peakTreeRssKiB)) / 1024).toFixed(1)),
  targetMs: 1000,
};
console.log('first job: lilypad run cowsay:v0.0.1 -i Message=moo (embedded network), median of', runs);
console.log(`  lilypad run          ${figures.lilypadRunMedianMs} ms  (min ${figures.lilypadRunMinMs}, max ${figures.lilypadRunMaxMs}), peak RSS ${figures.lilypadPeakRssMiB} MiB (node + anvil)`);
console.log(`  node:wasi directly   ${figures.directWasiMedianMs} ms, peak RSS ${figures.directPeakRssMiB} MiB`);
console.log(`  ratio                ${figures.ratio}x   target: whole run under ${figures.targetMs} ms: ${lilypadMs < 1000 ? 'met' : 'NOT met'}`);
console.log('  written to', writeResults('first-job', figures));
