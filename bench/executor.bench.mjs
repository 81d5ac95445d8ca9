// The executors' overhead on a cowsay job. WebAssembly: executor.run (module compiled and cached, a spare
// worker booted) against running the same compiled .wasm directly with node:wasi in this process, and against
// a fresh `node` process doing so. Docker, when an engine answers: executor.run against `docker run --rm` of
// the same image (a busybox image with a shell-script cowsay, built here with `docker import`).
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, root, timeCommand, writeResults } from './lib.mjs';

process.removeAllListeners('warning'); // node:wasi is experimental and says so when loaded
const { WASI } = await import('node:wasi');

const { createWasmExecutor } = await import('../dist/executor/wasm/index.js');
const { connectDocker, createDockerExecutor, dockerEngineConfigured } = await import('../dist/executor/docker/index.js');

const runs = Number(process.env.BENCH_RUNS ?? 50);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-executor-'));
const wasmPath = path.join(root, 'modules', 'cowsay', 'cowsay.wasm');
const wasmBytes = readFileSync(wasmPath);
const round = (ms) => Number(ms.toFixed(2));
let counter = 0;
const resultDir = () => path.join(scratch, `result-${++counter}`);

// --- WebAssembly ---------------------------------------------------------------------------------------------
const compiled = await WebAssembly.compile(wasmBytes);
function runDirect() {
  const stdout = openSync(path.join(scratch, `direct-${++counter}`), 'w');
  try {
    const wasi = new WASI({ version: 'preview1', args: ['cowsay', 'moo'], env: {}, stdout, returnOnExit: true });
    const instance = new WebAssembly.Instance(compiled, wasi.getImportObject());
    return wasi.start(instance);
  } finally {
    closeSync(stdout);
  }
}

const executor = createWasmExecutor();
const job = { engine: 'wasm', module: wasmBytes, args: ['moo'], env: {} };
await executor.prepare();
for (let i = 0; i < 5; i++) {
  runDirect();
  await executor.run({ jobId: 'be7c4', randomSeed: 'abababababababababababababababababababababababababababababababab', job, resultDir: resultDir() });
}
const direct = [];
const viaExecutor = [];
for (let i = 0; i < runs; i++) {
  let started = performance.now();
  if (runDirect() !== 0) throw new Error('direct cowsay failed');
  direct.push(performance.now() - started);
  started = performance.now();
  const result = await executor.run({ jobId: 'be7c4', randomSeed: 'abababababababababababababababababababababababababababababababab', job, resultDir: resultDir() });
  viaExecutor.push(performance.now() - started);
  if (result.exitCode !== 0 || !readFileSync(path.join(result.resultDir, 'stdout'), 'utf8').includes('< moo >')) {
    throw new Error('cowsay through the executor failed');
  }
}
await executor.close();

const processRuns = Math.min(runs, 10);
const freshProcess = [];
for (let i = 0; i < processRuns; i++) {
  const run = await timeCommand(process.execPath, [path.join(root, 'bench', 'wasi-direct.mjs'), wasmPath, 'moo']);
  if (run.code !== 0) throw new Error(`direct run failed: ${run.stderr}`);
  freshProcess.push(run.ms);
}

const wasmExecutorMs = median(viaExecutor);
const wasmDirectMs = median(direct);
const figures = {
  runs,
  wasm: {
    executorMedianMs: round(wasmExecutorMs),
    executorP90Ms: round([...viaExecutor].sort((a, b) => a - b)[Math.floor(runs * 0.9)]),
    directInProcessMedianMs: round(wasmDirectMs),
    overheadMs: round(wasmExecutorMs - wasmDirectMs),
    ratio: round(wasmExecutorMs / wasmDirectMs),
    directFreshProcessMedianMs: round(median(freshProcess)),
    ratioToFreshProcess: round(wasmExecutorMs / median(freshProcess)),
    targetOverheadMs: 10,
  },
};

console.log(`executor: cowsay moo, median of ${runs} runs`);
console.log('  WebAssembly (module compiled and cached)');
console.log(`    executor.run                 ${figures.wasm.executorMedianMs} ms (p90 ${figures.wasm.executorP90Ms} ms)`);
console.log(`    node:wasi, same process      ${figures.wasm.directInProcessMedianMs} ms`);
console.log(`    overhead                     ${figures.wasm.overheadMs} ms, ratio ${figures.wasm.ratio}x   target: under 10 ms: ${figures.wasm.overheadMs < 10 ? 'met' : 'NOT met'}`);
console.log(`    node:wasi, fresh process     ${figures.wasm.directFreshProcessMedianMs} ms (median of ${processRuns}); executor.run is ${figures.wasm.ratioToFreshProcess}x that`);

// --- Docker ------------------------------------------------------------------------------------------------------
const dockerCli = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { encoding: 'utf8' });
const docker = dockerEngineConfigured() && dockerCli.status === 0 ? connectDocker() : undefined;
if (!docker) {
  figures.docker = { skipped: 'no Docker engine answers (set DOCKER_HOST, or start dockerd as .ci/run does)' };
  console.log(`  Docker: skipped, ${figures.docker.skipped}`);
} else {
  const { buildTestImage } = await import('./.build/executor/docker/testdata/test-image.js'); // npm run build:bench
  const image = await buildTestImage(docker, path.join(scratch, 'image'));
  const dockerExecutor = createDockerExecutor({ docker, owner: `lilypad-bench-${process.pid}` });
  const dockerJob = { engine: 'docker', image, entrypoint: ['/bin/cowsay'], args: ['moo'], env: {} };
  const dockerRuns = Math.min(runs, Number(process.env.BENCH_DOCKER_RUNS ?? 10));
  const dockerRunArgs = ['run', '--rm', '--network', 'none', '--log-driver', 'none', '-a', 'stdout', '-a', 'stderr', '--entrypoint', '/bin/cowsay', image, 'moo'];
  await dockerExecutor.run({ jobId: 'be7c4', randomSeed: 'abababababababababababababababababababababababababababababababab', job: dockerJob, resultDir: resultDir() });
  await timeCommand('docker', dockerRunArgs);
  const viaDockerExecutor = [];
  const dockerRun = [];
  for (let i = 0; i < dockerRuns; i++) {
    let started = performance.now();
    const result = await dockerExecutor.run({ jobId: 'be7c4', randomSeed: 'abababababababababababababababababababababababababababababababab', job: dockerJob, resultDir: resultDir() });
    viaDockerExecutor.push(performance.now() - started);
    if (!readFileSync(path.join(result.resultDir, 'stdout'), 'utf8').includes('< moo >')) throw new Error('docker executor cowsay failed');
    const run = await timeCommand('docker', dockerRunArgs);
    if (run.code !== 0 || !run.stdout.includes('< moo >')) throw new Error(`docker run failed: ${run.stderr}`);
    dockerRun.push(run.ms);
  }
  await dockerExecutor.close();
  await docker.getImage(image).remove().catch(() => {});
  const executorMs = median(viaDockerExecutor);
  const runMs = median(dockerRun);
  figures.docker = {
    runs: dockerRuns,
    engine: dockerCli.stdout.trim(),
    executorMedianMs: round(executorMs),
    dockerRunMedianMs: round(runMs),
    overheadMs: round(executorMs - runMs),
    ratio: round(executorMs / runMs),
  };
  console.log(`  Docker (engine ${figures.docker.engine}), median of ${dockerRuns}`);
  console.log(`    executor.run                 ${figures.docker.executorMedianMs} ms`);
  console.log(`    docker run --rm              ${figures.docker.dockerRunMedianMs} ms`);
  console.log(`    overhead                     ${figures.docker.overheadMs} ms, ratio ${figures.docker.ratio}x`);
}

rmSync(scratch, { recursive: true, force: true });
console.log('  written to', writeResults('executor', figures));
