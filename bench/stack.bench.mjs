// Jobs through `lilypad stack` (separate processes: chain, solver, mediator, 4 resource providers): the
// latency of one cowsay job (p50/p95, with where the time goes), and jobs per second with many jobs in
// flight. Jobs are sent by the job creator SDK in this process (what `lilypad run` runs, without a process
// start per job); the `lilypad run` CLI's own latency is measured too.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEther } from 'viem';
import { median, root, timeCommand, writeResults } from './lib.mjs';

const dist = (file) => import(path.join(root, 'dist', file));
const { connectChain, setRpcDefaults } = await dist('chain/index.js');
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
// Every process of the stack counts its JSON-RPC calls by method into this folder (src/cli/chain-settings.ts);
// this one counts its own through the transport's observer.
const rpcStatsDir = path.join(dir, 'rpc-stats');
mkdirSync(rpcStatsDir);
process.env.LILYPAD_RPC_STATS_DIR = rpcStatsDir;
const senderCalls = {};
setRpcDefaults({ onRequest: (method) => (senderCalls[method] = (senderCalls[method] ?? 0) + 1) });
const baseEnv = { ...process.env, LILYPAD_LOG_LEVEL: 'warn', LILYPAD_CAPACITY: process.env.LILYPAD_CAPACITY ?? '8', LILYPAD_JOBS_DB: path.join(dir, 'jobs.db') };
for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS']) delete baseEnv[name];

const up = await timeCommand(process.execPath, [cli, 'stack', 'up', '--dir', dir, '--providers', String(providers)], { env: baseEnv });
if (up.code !== 0) throw new Error(`stack up failed: ${up.stderr}`);
const env = JSON.parse((await timeCommand(process.execPath, [cli, 'stack', 'env', '--dir', dir, '--json'], { env: baseEnv })).stdout);

const stackState = JSON.parse(readFileSync(path.join(dir, 'stack.json'), 'utf8'));
const processNames = new Map([[process.pid, 'sender'], ...stackState.processes.map((p) => [p.pid, p.name])]);

/** RPC calls so far, by process name and method (the files are rewritten each second). */
function rpcCalls() {
  const byProcess = { sender: { ...senderCalls } };
  for (const file of readdirSync(rpcStatsDir)) {
    const pid = Number(file.replace('.json', ''));
    const name = processNames.get(pid);
    if (!name) continue;
    try {
      byProcess[name] = JSON.parse(readFileSync(path.join(rpcStatsDir, file), 'utf8')).counts;
    } catch {}
  }
  return byProcess;
}

/** CPU seconds used so far by each process of the stack and by this one (anvil is the chain's child). */
function cpuSeconds() {
  const ticks = (pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / 100;
    } catch {
      return 0;
    }
  };
  const seconds = { sender: ticks(process.pid) };
  for (const p of stackState.processes) seconds[p.name] = ticks(p.pid);
  const chainPid = stackState.processes.find((p) => p.name === 'chain')?.pid;
  seconds.anvil = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === chainPid) seconds.anvil += ticks(Number(entry));
    } catch {}
  }
  return seconds;
}

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

  await new Promise((resolve) => setTimeout(resolve, 1100)); // counts written
  const rpcBefore = rpcCalls();
  const cpuBefore = cpuSeconds();
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
  const cpuAfter = cpuSeconds();
  await new Promise((resolve) => setTimeout(resolve, 1500)); // settlements sent, counts written
  const rpcAfter = rpcCalls();
  const rpcPerJob = {};
  for (const [name, counts] of Object.entries(rpcAfter)) {
    const role = name.replace(/-\d+$/, '');
    for (const [method, count] of Object.entries(counts)) {
      const delta = count - (rpcBefore[name]?.[method] ?? 0);
      if (delta > 0) (rpcPerJob[role] ??= {})[method] = ((rpcPerJob[role]?.[method] ?? 0) + delta);
    }
  }
  let rpcTotal = 0;
  for (const counts of Object.values(rpcPerJob)) {
    for (const method of Object.keys(counts)) {
      rpcTotal += counts[method];
      counts[method] = Number((counts[method] / throughputJobs).toFixed(2));
    }
  }
  const cpuShare = {};
  for (const name of Object.keys(cpuAfter)) cpuShare[name] = Math.round((100 * (cpuAfter[name] - cpuBefore[name])) / throughputSeconds);
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
    rpcCallsPerJob: Number((rpcTotal / throughputJobs).toFixed(1)),
    rpcCallsPerJobByRole: rpcPerJob,
    cpuPercentDuringThroughput: cpuShare,
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
console.log(`  RPC calls       ${figures.rpcCallsPerJob} per job: ${Object.entries(figures.rpcCallsPerJobByRole).map(([role, counts]) => `${role} ${Object.entries(counts).map(([m, n]) => `${m} ${n}`).join(', ')}`).join('; ')}`);
console.log(`  CPU (% of one core, throughput run) ${Object.entries(figures.cpuPercentDuringThroughput).map(([name, pct]) => `${name} ${pct}`).join(', ')}`);
console.log(`  lilypad run     ${figures.cliRunMedianMs} ms median (the CLI, process start included)`);
console.log('  written to', writeResults('stack', figures));
