// Jobs through `lilypad stack` (separate processes: chain, solver, mediator, 4 resource providers): the
// latency of one cowsay job (p50/p95, with where the time goes), and jobs per second with many jobs in
// flight. Jobs are sent by the job creator SDK in this process (what `lilypad run` runs, without a process
// start per job); the `lilypad run` CLI's own latency is measured too.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEther } from 'viem';
import { median, root, timeCommand, writeResults } from './lib.mjs';

const dist = (file) => import(path.join(root, 'dist', file));
const { connectChain } = await dist('chain/index.js');
const { createSolverClient } = await dist('solver/client.js');
const { createModuleResolver } = await dist('module/resolve.js');
const { chainReadDeal } = await dist('network/read-deal.js');
const { openBlockstore, closeBlockstore } = await dist('storage/index.js');
const { runJob } = await dist('job-creator/run-job.js');

const providers = 4;
const latencyRuns = Number(process.env.BENCH_RUNS ?? 30);
const throughputJobs = Number(process.env.BENCH_JOBS ?? 200);
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 32);
const dir = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-stack-'));
const cli = path.join(root, 'bin', 'lilypad.js');
const baseEnv = { ...process.env, LILYPAD_LOG_LEVEL: 'warn', LILYPAD_CAPACITY: process.env.LILYPAD_CAPACITY ?? '8', LILYPAD_JOBS_DB: path.join(dir, 'jobs.db') };
for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS']) delete baseEnv[name];

const up = await timeCommand(process.execPath, [cli, 'stack', 'up', '--dir', dir, '--providers', String(providers)], { env: baseEnv });
if (up.code !== 0) throw new Error(`stack up failed: ${up.stderr}`);
const env = JSON.parse((await timeCommand(process.execPath, [cli, 'stack', 'env', '--dir', dir, '--json'], { env: baseEnv })).stdout);

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

let figures;
try {
  const chain = await connectChain({ rpcUrl: env.WEB3_RPC_URL, privateKey: env.WEB3_PRIVATE_KEY });
  const blockstore = await openBlockstore(path.join(dir, 'bench-job-creator', 'blocks'));
  const components = {
    chain,
    domain: { chainId: chain.chainId, dealsAddress: env.LILYPAD_DEALS_ADDRESS },
    solver: createSolverClient(env.SERVICE_SOLVER),
    modules: createModuleResolver(),
    readDeal: chainReadDeal(chain.publicClient, env.LILYPAD_DEALS_ADDRESS),
    blockstore,
  };
  const resultsDir = path.join(dir, 'results');
  let counter = 0;
  const oneJob = async (phases) => {
    const started = performance.now();
    const marks = {};
    const result = await runJob(
      {
        module: 'cowsay:v0.0.1',
        inputs: { Message: `moo ${counter++}` },
        maxPrice: parseEther('10'),
        mediators: env.SERVICE_MEDIATORS.split(','),
        resultsDir,
        onProgress: (event) => (marks[event.type] ??= performance.now() - started),
      },
      components,
    );
    if (!result.stdout.includes('< moo')) throw new Error(`unexpected output: ${result.stdout}`);
    const ms = performance.now() - started;
    if (phases) phases.push({ ...marks, total: ms });
    return ms;
  };

  for (let i = 0; i < 3; i++) await oneJob(); // warm-up: module cache, connections, JIT
  const phases = [];
  const latencies = [];
  for (let i = 0; i < latencyRuns; i++) latencies.push(await oneJob(phases));
  const phaseMedian = (from, to) => Math.round(median(phases.map((p) => (p[to] ?? p.total) - (p[from] ?? 0))));

  const throughputStarted = performance.now();
  let next = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < throughputJobs) {
        next += 1;
        await oneJob().catch(() => (failed += 1));
      }
    }),
  );
  const throughputSeconds = (performance.now() - throughputStarted) / 1000;
  await closeBlockstore(blockstore);

  const cliRuns = [];
  for (let i = 0; i < 5; i++) {
    const run = await timeCommand(process.execPath, [cli, 'run', 'cowsay:v0.0.1', '-i', `Message=cli ${i}`, '--json', '--output-dir', resultsDir], { env: { ...baseEnv, ...env } });
    if (run.code !== 0) throw new Error(`lilypad run failed: ${run.stderr}`);
    cliRuns.push(run.ms);
  }

  figures = {
    providers,
    providerCapacity: Number(baseEnv.LILYPAD_CAPACITY),
    latencyRuns,
    latencyP50Ms: Math.round(percentile(latencies, 50)),
    latencyP95Ms: Math.round(percentile(latencies, 95)),
    phasesMedianMs: {
      signAndPost: phaseMedian('job:submitting', 'job:submitted'),
      matchAndAgree: phaseMedian('job:submitted', 'deal:agreed'),
      runAndSubmit: phaseMedian('deal:agreed', 'results:submitted'),
      downloadVerifyAccept: phaseMedian('results:submitted', 'results:accepted'),
    },
    throughputJobs,
    inFlight,
    failed,
    jobsPerSecond: Number(((throughputJobs - failed) / throughputSeconds).toFixed(1)),
    cliRunMedianMs: Math.round(median(cliRuns)),
    targetJobsPerSecond: 20,
  };
} finally {
  await timeCommand(process.execPath, [cli, 'stack', 'down', '--dir', dir], { env: baseEnv });
  rmSync(dir, { recursive: true, force: true });
}

console.log(`stack: ${providers} resource providers (capacity ${figures.providerCapacity} each), cowsay jobs through the job creator SDK`);
console.log(`  latency         p50 ${figures.latencyP50Ms} ms, p95 ${figures.latencyP95Ms} ms (${latencyRuns} jobs one after another)`);
console.log(`    phases (p50)  sign+post ${figures.phasesMedianMs.signAndPost} ms, match+agree ${figures.phasesMedianMs.matchAndAgree} ms, run+submit ${figures.phasesMedianMs.runAndSubmit} ms, download+verify+accept ${figures.phasesMedianMs.downloadVerifyAccept} ms`);
console.log(`  throughput      ${figures.jobsPerSecond} jobs/s (${throughputJobs} jobs, ${inFlight} in flight, ${figures.failed} failed)   target ≥ ${figures.targetJobsPerSecond}: ${figures.jobsPerSecond >= 20 ? 'met' : 'NOT met'}`);
console.log(`  lilypad run     ${figures.cliRunMedianMs} ms median (the CLI, process start included)`);
console.log('  written to', writeResults('stack', figures));
