// The llm modules' speed in the WebAssembly executor against the same C sources built natively with gcc -O2
// (scripts/build-llm-native.sh): tokens per second of llm (the difference between a 256-token and a 1-token
// run, so that loading the weights is left out), time to the first token (a 1-token run: loading the weights
// and the prompt), steps per second of lora-training (30 steps against 1); and the whole of `lilypad run
// llm:v1` on the embedded network, with the peak memory of its process tree. The first token a user sees
// while the job runs (live output) is measured by live-output.bench.mjs.
// Needs models/llm/model.safetensors, modules/llm/tokenizer.txt and gcc.
import { spawnSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median, root, timeCommand, writeResults } from './lib.mjs';

const { createWasmExecutor } = await import('../dist/executor/wasm/index.js');

const runs = Number(process.env.BENCH_RUNS ?? 3);
const weights = path.join(root, 'models', 'llm', 'model.safetensors');
if (!existsSync(weights)) throw new Error(`${weights} is missing (scripts/train-llm.py writes it)`);
const native = path.join(root, 'bench', '.build', 'native');
const built = spawnSync('bash', [path.join(root, 'scripts', 'build-llm-native.sh'), native], { encoding: 'utf8' });
if (built.status !== 0) throw new Error(`native build failed: ${built.stderr}`);

const scratch = mkdtempSync(path.join(os.tmpdir(), 'lilypad-bench-llm-'));
const inputs = path.join(scratch, 'inputs');
mkdirSync(path.join(inputs, 'weights'), { recursive: true });
linkSync(weights, path.join(inputs, 'weights', 'model.safetensors'));
mkdirSync(path.join(inputs, 'dataset'));
writeFileSync(path.join(inputs, 'dataset', 'data.txt'), 'The lighthouse keeper counted ships at dawn and wrote their names in a blue book. '.repeat(40));
const outputs = path.join(scratch, 'native-outputs');
mkdirSync(outputs);

const executor = createWasmExecutor();
let counter = 0;
async function wasmMs(name, args) {
  const started = performance.now();
  const result = await executor.run({
    jobId: 'be7c4',
    randomSeed: 'ab'.repeat(32),
    job: { engine: 'wasm', module: readFileSync(path.join(root, 'modules', name, `${name}.wasm`)), entryPoint: '_start', args, env: {} },
    inputsDir: inputs,
    resultDir: path.join(scratch, `result-${++counter}`),
    limits: { memoryBytes: 256 * 1024 * 1024, wallClockMs: 600_000 },
  });
  if (result.exitCode !== 0) throw new Error(`${name} ${args.join(' ')} exited ${result.exitCode}`);
  return performance.now() - started;
}
async function nativeMs(name, args) {
  const nativeArgs = args.map((arg) => arg.replace(/^\/inputs/, inputs));
  const run = await timeCommand(path.join(native, name), [...nativeArgs, '--outputs', outputs]);
  if (run.code !== 0) throw new Error(`native ${name} failed: ${run.stderr}`);
  return run.ms;
}

const generate = (tokens) => ['--prompt', 'Once upon a time', '--max-tokens', String(tokens), '--weights', '/inputs/weights/model.safetensors', '--weights-cid', 'bench'];
const train = (steps) => ['--dataset', '/inputs/dataset', '--steps', String(steps), '--weights', '/inputs/weights/model.safetensors', '--weights-cid', 'bench'];
const figures = {};
for (const [where, time] of [['wasm', wasmMs], ['native', nativeMs]]) {
  const long = [], short = [], trainLong = [], trainShort = [];
  for (let i = 0; i < runs; i++) {
    long.push(await time('llm', generate(256)));
    short.push(await time('llm', generate(1)));
  }
  trainLong.push(await time('lora-training', train(30)));
  trainShort.push(await time('lora-training', train(1)));
  figures[where] = {
    tokensPerSecond: Number((255 / ((median(long) - median(short)) / 1000)).toFixed(1)),
    generate256Ms: Math.round(median(long)),
    firstTokenMs: Math.round(median(short)),
    trainingStepsPerSecond: Number((29 / ((median(trainLong) - median(trainShort)) / 1000)).toFixed(2)),
    training30StepsMs: Math.round(median(trainLong)),
  };
}
await executor.close();

// The user's view: a fresh `lilypad run` (anvil, solver, provider, mediator, the job, the download).
const cli = [];
for (let i = 0; i < runs; i++) {
  const run = await timeCommand(process.execPath, [path.join(root, 'bin', 'lilypad.js'), 'run', 'llm:v1', '-i', 'Prompt=Once upon a time', '-i', 'MaxTokens=64', '--json'], {
    env: { ...process.env, LILYPAD_BLOCKS_DIR: path.join(scratch, 'cli-blocks'), LILYPAD_JOBS_DB: path.join(scratch, 'jobs.db') },
  });
  if (run.code !== 0) throw new Error(`lilypad run llm:v1 failed: ${run.stderr}`);
  cli.push(run);
}
figures.lilypadRun64TokensMs = Math.round(median(cli.map((run) => run.ms)));
figures.lilypadRunPeakRssMiB = Number((Math.max(...cli.map((run) => run.peakTreeRssKiB)) / 1024).toFixed(1));
rmSync(scratch, { recursive: true, force: true });
console.log(`llm, median of ${runs} (${os.cpus()[0]?.model ?? 'unknown CPU'})`);
for (const where of ['wasm', 'native']) {
  const f = figures[where];
  console.log(`  ${where.padEnd(6)} ${f.tokensPerSecond} tokens/s (256 tokens in ${f.generate256Ms} ms, first token after ${f.firstTokenMs} ms), lora-training ${f.trainingStepsPerSecond} steps/s (30 steps in ${f.training30StepsMs} ms)`);
}
figures.wasmToNative = Number((figures.native.tokensPerSecond / figures.wasm.tokensPerSecond).toFixed(2));
console.log(`  native is ${figures.wasmToNative}x the WebAssembly speed`);
console.log(`  lilypad run llm:v1 (64 tokens, embedded network): ${figures.lilypadRun64TokensMs} ms to the whole completion, peak RSS ${figures.lilypadRunPeakRssMiB} MiB (node and anvil)`);
console.log('  written to', writeResults('llm', figures));
