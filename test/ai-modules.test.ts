/**
 * The built-in AI modules (llm:v1, lora-training:v1, lora-inference:v1) through the real pipeline: resolved as
 * built-ins, rendered, their inputs (the weights, datasets, adapters) fetched by CID from a trustless gateway
 * on 127.0.0.1 and checked block by block, run by the WebAssembly executor, the result folder's CID taken.
 * The C forward pass is checked against the numpy reference (modules/llm/testdata/reference.json) through
 * the same .wasm with its test arguments.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createWasmExecutor } from '../src/executor/wasm/wasm-executor.js';
import { prepareJob, runPreparedJob } from '../src/module/prepare-job.js';
import { createModuleResolver } from '../src/module/resolve.js';
import { inputsHashOf, moduleIdOf } from '../src/protocol/ids.js';
import type { JobOffer } from '../src/protocol/offers.js';
import { gatewaySource } from '../src/storage/block-source.js';
import { addBytes, addDirectory, addFile, cidOfDirectory } from '../src/storage/index.js';
import { startGateway, type RunningGateway } from '../src/storage/serve.js';
import { runCli } from './helpers.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const llmDir = path.join(repoRoot, 'modules', 'llm');
const weightsFile = path.join(repoRoot, 'models', 'llm', 'model.safetensors');
const referenceFile = path.join(llmDir, 'testdata', 'reference.json');

let scratch: string;
let gateway: RunningGateway;
let weightsCid: string;
/** A folder holding weights/model.safetensors, for running a .wasm directly with its test arguments. */
let weightsInputs: string;
const published = new MemoryBlockstore();
const executor = createWasmExecutor();
const modules = createModuleResolver();

beforeAll(async () => {
  if (!existsSync(weightsFile)) throw new Error(`${weightsFile} is missing: the llm modules need the trained weights (scripts/train-llm.py)`);
  scratch = mkdtempSync(path.join(tmpdir(), 'lilypad-ai-modules-'));
  weightsCid = (await addFile(weightsFile, published)).toString();
  gateway = await startGateway({ blockstore: published });
  weightsInputs = path.join(scratch, 'weights-inputs');
  mkdirSync(path.join(weightsInputs, 'weights'), { recursive: true });
  try {
    linkSync(weightsFile, path.join(weightsInputs, 'weights', 'model.safetensors'));
  } catch {
    copyFileSync(weightsFile, path.join(weightsInputs, 'weights', 'model.safetensors'));
  }
});

afterAll(async () => {
  await executor.close();
  await gateway?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface ModuleRun {
  exitCode: string;
  stdout: string;
  stderr: string;
  error?: string;
  resultDir: string;
  cid: string;
  output(name: string): string;
}

let runs = 0;
/** Runs a built-in module as a provider does: resolve, render, fetch inputs by CID, run, take the result's CID. */
async function runModule(name: string, inputs: Record<string, string>): Promise<ModuleRun> {
  const module = await modules.resolve(name);
  const job = { module: module.ref, moduleName: name, inputs, terms: { moduleId: moduleIdOf(module.ref), inputsHash: inputsHashOf(inputs) } } as unknown as JobOffer;
  const blockstore = new MemoryBlockstore();
  const prepared = await prepareJob(job, { modules, executors: [executor], inputs: { source: gatewaySource([gateway.url], blockstore), blockstore } });
  const resultDir = path.join(scratch, `result-${++runs}`);
  await runPreparedJob(prepared, { jobId: 'c0ffee', resultDir });
  const read = (file: string) => (existsSync(path.join(resultDir, file)) ? readFileSync(path.join(resultDir, file), 'utf8') : '');
  return {
    exitCode: read('exitCode'),
    stdout: read('stdout'),
    stderr: read('stderr'),
    error: read('error') || undefined,
    resultDir,
    cid: (await cidOfDirectory(resultDir)).toString(),
    output: (file) => read(path.join('outputs', file)),
  };
}

/** Runs a module's .wasm directly with its test arguments (--logits, --tokens), the weights at /inputs/weights. */
async function runWasm(moduleName: string, args: string[], inputsDir = weightsInputs): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const resultDir = path.join(scratch, `direct-${++runs}`);
  const result = await executor.run({
    jobId: 'c0ffee',
    randomSeed: '0'.repeat(64),
    job: { engine: 'wasm', module: readFileSync(path.join(repoRoot, 'modules', moduleName, `${moduleName}.wasm`)), entryPoint: '_start', args, env: {} },
    inputsDir,
    resultDir,
    limits: { memoryBytes: 256 * 1024 * 1024, wallClockMs: 60_000 },
  });
  return { exitCode: result.exitCode, stdout: readFileSync(path.join(resultDir, 'stdout'), 'utf8'), stderr: readFileSync(path.join(resultDir, 'stderr'), 'utf8') };
}

/** Each token's bytes, from tokenizer.txt as FORMAT.md defines them. */
function tokenPieces(): Buffer[] {
  const pieces = Array.from({ length: 256 }, (_, byte) => Buffer.from([byte]));
  for (const line of readFileSync(path.join(llmDir, 'tokenizer.txt'), 'utf8').trim().split('\n')) {
    const [left, right] = line.split(' ').map(Number);
    pieces.push(Buffer.concat([pieces[left!]!, pieces[right!]!]));
  }
  return pieces;
}

/** FORMAT.md's encoding rule written plainly (as scripts/llm-reference.py does), to compare the C encoder with. */
function encodeByTheRule(text: string): number[] {
  const merges = new Map<string, number>();
  readFileSync(path.join(llmDir, 'tokenizer.txt'), 'utf8').trim().split('\n').forEach((line, index) => {
    if (!merges.has(line)) merges.set(line, 256 + index);
  });
  let ids = [...Buffer.from(text, 'utf8')];
  for (;;) {
    let best = Infinity;
    for (let i = 0; i + 1 < ids.length; i++) best = Math.min(best, merges.get(`${ids[i]} ${ids[i + 1]}`) ?? Infinity);
    if (best === Infinity) return ids;
    const merged: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (i + 1 < ids.length && merges.get(`${ids[i]} ${ids[i + 1]}`) === best) merged.push(best), i++;
      else merged.push(ids[i]!);
    }
    ids = merged;
  }
}

test('the templates name the files they run: each .wasm and the weights by their CIDs (scripts/update-llm-cids.mjs --check)', () => {
  const checked = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'update-llm-cids.mjs'), '--check'], { encoding: 'utf8' });
  expect(checked.stderr).toBe('');
  expect(checked.status).toBe(0);
  expect(checked.stdout.trim()).toBe(`weights ${weightsCid}`);
});

describe('llm:v1', () => {
  test('the same job gives the same result CID three times and in a fresh process (the CLI on its embedded network)', async () => {
    const inputs = { Prompt: 'Once upon a time', Seed: '7', MaxTokens: '24' };
    const [a, b, c] = [await runModule('llm:v1', inputs), await runModule('llm:v1', inputs), await runModule('llm:v1', inputs)];
    expect(a.error).toBeUndefined();
    expect(a.exitCode).toBe('0');
    expect(new Set([a.cid, b.cid, c.cid]).size).toBe(1);
    const completion = JSON.parse(a.output('completion.json'));
    expect(completion).toEqual({
      prompt: 'Once upon a time',
      completion: expect.any(String),
      tokens: { prompt: expect.any(Number), prompt_used: completion.tokens.prompt, completion: 24 },
      seed: 7,
      temperature: 0.5,
      weights: weightsCid,
    });
    expect(a.stdout.length).toBeGreaterThan(0);

    const env = { LILYPAD_BLOCKS_DIR: path.join(scratch, 'cli-blocks') };
    const added = await runCli(['add', weightsFile], env);
    expect(added.stdout.trim()).toBe(weightsCid);
    const cli = await runCli(['run', 'llm:v1', '--json', ...Object.entries(inputs).flatMap(([k, v]) => ['-i', `${k}=${v}`])], env);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).cid).toBe(a.cid);
  });

  test('another seed gives another completion; temperature 0 is greedy and ignores the seed', async () => {
    const [seven, eight] = [await runModule('llm:v1', { Prompt: 'The', Seed: '7', MaxTokens: '32' }), await runModule('llm:v1', { Prompt: 'The', Seed: '8', MaxTokens: '32' })];
    expect(seven.stdout).not.toBe(eight.stdout);
    const [greedy7, greedy8] = [await runModule('llm:v1', { Prompt: 'The', Seed: '7', MaxTokens: '16', Temperature: '0' }), await runModule('llm:v1', { Prompt: 'The', Seed: '8', MaxTokens: '16', Temperature: '0' })];
    expect(greedy7.stdout).toBe(greedy8.stdout);
  });

  test('it writes English-like text: at its default temperature, at least 80% of its words are words of its training corpus', async () => {
    const vocabulary = new Set(readFileSync(path.join(repoRoot, 'test', 'fixtures', 'llm-corpus-words.txt'), 'utf8').split('\n'));
    for (const Prompt of ['The meaning of life is', 'A computer', 'Once upon a time']) {
      const run = await runModule('llm:v1', { Prompt, MaxTokens: '100' });
      const words = (run.stdout.match(/[A-Za-z']+/g) ?? []).map((word) => word.toLowerCase());
      expect(words.length).toBeGreaterThan(20);
      const known = words.filter((word) => vocabulary.has(word)).length;
      expect(known / words.length, `${Prompt}: ${run.stdout}`).toBeGreaterThanOrEqual(0.8);
    }
  });

  test('the C forward pass gives the numpy reference\'s token ids, last-position logits (within 1e-3) and greedy continuation', async () => {
    if (!existsSync(referenceFile)) throw new Error(`${referenceFile} is missing (scripts/llm-reference.py writes it)`);
    const reference = JSON.parse(readFileSync(referenceFile, 'utf8')) as { cases: Array<{ prompt: string; ids: number[]; last_logits: number[]; greedy_ids: number[] }> };
    const pieces = tokenPieces();
    expect(reference.cases.length).toBeGreaterThan(0);
    for (const { prompt, ids, last_logits: lastLogits, greedy_ids: greedyIds } of reference.cases) {
      const run = await runWasm('llm', ['--logits', '--prompt', prompt, '--weights-cid', weightsCid]);
      expect(run.exitCode).toBe(0);
      const printed = JSON.parse(run.stdout) as { ids: number[]; logits: number[] };
      expect(printed.ids).toEqual(ids);
      const worst = Math.max(...printed.logits.map((logit, i) => Math.abs(logit - lastLogits[i]!)));
      expect(worst).toBeLessThan(1e-3);
      const greedy = await runWasm('llm', ['--prompt', prompt, '--temperature', '0', '--max-tokens', String(greedyIds.length), '--weights-cid', weightsCid, '--outputs', '/outputs']);
      expect(greedy.exitCode).toBe(0);
      expect(greedy.stdout).toBe(Buffer.concat(greedyIds.map((id) => pieces[id]!)).toString('utf8'));
    }
  });

  test('the tokenizer follows FORMAT.md\'s rule on a page of text', async () => {
    const text = readFileSync(path.join(repoRoot, 'README.md'), 'utf8').slice(0, 3000) + ' aaaaaaa  \n\n\t éé 🦊🦊';
    const run = await runWasm('llm', ['--tokens', '--prompt', text]);
    expect((JSON.parse(run.stdout) as { ids: number[] }).ids).toEqual(encodeByTheRule(text));
  });

  test('the tokenizer gives back the bytes it was given', async () => {
    for (const text of ['hello world', 'Grüße, 世界! 🦊 tabs\tand\nnewlines', ' '.repeat(40), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '']) {
      const run = await runWasm('llm', ['--tokens', '--prompt', text]);
      expect(run.exitCode).toBe(0);
      const printed = JSON.parse(run.stdout) as { ids: number[]; decoded: string };
      expect(printed.decoded).toBe(text);
      expect(printed.ids.length).toBeLessThanOrEqual(Buffer.byteLength(text));
      expect(Buffer.concat(printed.ids.map((id) => tokenPieces()[id]!)).toString('utf8')).toBe(text);
    }
  });

  test('MaxTokens above 256 is refused with one line; 256 gives 256 tokens', async () => {
    const refused = await runModule('llm:v1', { Prompt: 'hi', MaxTokens: '257' });
    expect(refused.exitCode).toBe('1');
    expect(refused.stderr).toBe('llm: MaxTokens must be a whole number from 1 to 256, not "257"\n');
    const bad = await runModule('llm:v1', { Prompt: 'hi', Temperature: '3' });
    expect(bad.stderr).toBe('llm: Temperature must be a number from 0 to 2, not "3"\n');
    const most = await runModule('llm:v1', { Prompt: 'hi', MaxTokens: '256' });
    expect(most.exitCode).toBe('0');
    expect(JSON.parse(most.output('completion.json')).tokens.completion).toBe(256);
  });

  test('a 1 MB prompt is truncated to the context, and stderr says so', async () => {
    const prompt = 'All work and no play makes a dull model. '.repeat(25_000).slice(0, 1_000_000);
    const run = await runModule('llm:v1', { Prompt: prompt, MaxTokens: '8' });
    expect(run.error).toBeUndefined();
    expect(run.exitCode).toBe('0');
    const completion = JSON.parse(run.output('completion.json'));
    expect(completion.tokens.prompt_used).toBe(128);
    expect(run.stderr).toBe(`llm: the prompt is ${completion.tokens.prompt} tokens long and the context holds 128, so it was truncated to its last 128 tokens\n`);
  });
});

/** The header of a safetensors file, and the file again with its metadata changed. */
function safetensorsHeader(bytes: Buffer): { header: Record<string, any>; data: Buffer } {
  const length = Number(bytes.readBigUInt64LE(0));
  return { header: JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')), data: bytes.subarray(8 + length) };
}

function withMetadata(bytes: Buffer, metadata: Record<string, string>): Buffer {
  const { header, data } = safetensorsHeader(bytes);
  let json = JSON.stringify({ ...header, __metadata__: { ...header.__metadata__, ...metadata } });
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), data]);
}

/**
 * How likely a module finds the dataset: the summed log-probability of the next token at a few places in
 * `text`, from the last-position logits its .wasm prints (--logits), with the adapter when there is one.
 */
async function datasetLogProbability(moduleName: string, text: string, inputsDir: string): Promise<number> {
  const pieces = tokenPieces();
  const ids = (JSON.parse((await runWasm('llm', ['--tokens', '--prompt', text])).stdout) as { ids: number[] }).ids;
  let total = 0;
  for (const cut of [ids.length - 21, ids.length - 11, ids.length - 1]) {
    const prompt = Buffer.concat(ids.slice(0, cut).map((id) => pieces[id]!)).toString('utf8');
    const run = await runWasm(moduleName, ['--logits', '--prompt', prompt, '--weights-cid', weightsCid], inputsDir);
    expect(run.stderr).toBe('');
    const { logits } = JSON.parse(run.stdout) as { logits: number[] };
    const max = Math.max(...logits);
    total += logits[ids[cut]!]! - max - Math.log(logits.reduce((sum, logit) => sum + Math.exp(logit - max), 0));
  }
  return total;
}

describe('lora-training:v1 and lora-inference:v1', () => {
  const datasetText = 'one two three four five six seven eight nine ten. '.repeat(50);
  let datasetCid: string;
  let training: ModuleRun;
  let trainingCid: string;
  let adapter: Buffer;

  beforeAll(async () => {
    const folder = path.join(scratch, 'dataset');
    mkdirSync(path.join(folder, 'more'), { recursive: true });
    writeFileSync(path.join(folder, 'a.txt'), datasetText);
    writeFileSync(path.join(folder, 'more', 'b.txt'), datasetText);
    writeFileSync(path.join(folder, 'notes.md'), 'not text for training: only .txt files are read');
    datasetCid = (await addDirectory(folder, published)).toString();
    training = await runModule('lora-training:v1', { DatasetCID: datasetCid, Steps: '30', LearningRate: '0.005', Seed: '3' });
    trainingCid = (await addDirectory(training.resultDir, published)).toString();
    adapter = readFileSync(path.join(training.resultDir, 'outputs', 'lora.safetensors'));
  }, 60_000);

  test('lilypad module test reports each AI module deterministic, with its inputs given as local data', async () => {
    const env = { LILYPAD_BLOCKS_DIR: path.join(scratch, 'module-test-blocks') };
    const adapterFile = path.join(training.resultDir, 'outputs', 'lora.safetensors');
    for (const args of [
      ['llm:v1', '-i', 'Prompt=The pond', '-i', 'MaxTokens=16'],
      ['lora-training:v1', '-i', `DatasetCID=@${path.join(scratch, 'dataset')}`, '-i', 'Steps=3'],
      ['lora-inference:v1', '-i', `LoraCID=@${adapterFile}`, '-i', 'Prompt=one two', '-i', 'MaxTokens=16'],
    ]) {
      const tested = await runCli(['module', 'test', ...args, '--json'], env);
      expect(tested.code, tested.stderr).toBe(0);
      expect(JSON.parse(tested.stdout)).toMatchObject({ module: args[0], deterministic: true, exitCodes: [0, 0] });
    }
  }, 60_000);

  test('training lowers the loss and writes the adapter, loss.csv and a plot', () => {
    expect(training.error).toBeUndefined();
    expect(training.stderr).toBe('');
    expect(training.exitCode).toBe('0');
    const rows = training.output('loss.csv').trim().split('\n');
    expect(rows[0]).toBe('step,loss');
    expect(rows).toHaveLength(31);
    const losses = rows.slice(1).map((row) => Number(row.split(',')[1]));
    expect(losses.every(Number.isFinite)).toBe(true);
    // Each step's loss is of other windows: the first five steps against the last five.
    const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) * 0.98);
    const svg = training.output('loss.svg');
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('>step</text>');
    expect(svg).toContain('>loss</text>');
    expect(svg).toContain('<polyline');
    const { header } = safetensorsHeader(adapter);
    expect(header.__metadata__).toEqual({ format: 'lilypad-lora-1', base: weightsCid, rank: '4', steps: '30', learning_rate: '0.005', seed: '3' });
    expect(header['layers.3.wv.lora_a'].shape).toEqual([4, 192]);
    expect(header['layers.0.wq.lora_b'].shape).toEqual([192, 4]);
  });

  test('Steps of 0 or beyond 500 are refused with one line', async () => {
    for (const steps of ['0', '501']) {
      const refused = await runModule('lora-training:v1', { DatasetCID: datasetCid, Steps: steps });
      expect(refused.exitCode).toBe('1');
      expect(refused.stderr).toBe(`lora-training: Steps must be a whole number from 1 to 500, not "${steps}"\n`);
    }
  });

  test('lora-inference with the adapter writes other text than llm and finds the dataset more likely; the result CID or the file CID both work', async () => {
    const inputs = { Prompt: 'one two three', Seed: '1', MaxTokens: '48', Temperature: '0' };
    const base = await runModule('llm:v1', inputs);
    const tuned = await runModule('lora-inference:v1', { ...inputs, LoraCID: trainingCid });
    expect(tuned.error).toBeUndefined();
    expect(tuned.stderr).toBe('');
    expect(tuned.exitCode).toBe('0');
    expect(tuned.stdout).not.toBe(base.stdout);
    const loraInputs = path.join(scratch, 'lora-inputs');
    mkdirSync(path.join(loraInputs, 'weights'), { recursive: true });
    copyFileSync(weightsFile, path.join(loraInputs, 'weights', 'model.safetensors'));
    writeFileSync(path.join(loraInputs, 'lora'), adapter);
    const text = datasetText.slice(0, 140); // within the 64-token windows the adapter was trained on
    expect(await datasetLogProbability('lora-inference', text, loraInputs)).toBeGreaterThan(await datasetLogProbability('llm', text, weightsInputs));
    const fileCid = (await addBytes(adapter, published)).toString();
    const byFile = await runModule('lora-inference:v1', { ...inputs, LoraCID: fileCid });
    expect(byFile.stdout).toBe(tuned.stdout);
  });

  test('an input without an adapter, an adapter for other weights and a malformed adapter: one line each, exit 1', async () => {
    const inputs = { Prompt: 'one two three', MaxTokens: '4' };
    const refusal = async (loraCid: string) => {
      const run = await runModule('lora-inference:v1', { ...inputs, LoraCID: loraCid });
      expect(run.exitCode).toBe('1');
      expect(run.stdout).toBe('');
      return run.stderr;
    };
    expect(await refusal(datasetCid)).toBe(
      'lora-inference: the LoraCID input holds no adapter: give a lora-training result (with outputs/lora.safetensors) or a .safetensors file\n',
    );
    const otherBase = 'bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    expect(await refusal((await addBytes(withMetadata(adapter, { base: otherBase }), published)).toString())).toBe(
      `lora-inference: the adapter was made for other base weights (${otherBase}), not ${weightsCid}\n`,
    );
    expect(await refusal((await addBytes(Buffer.from('not an adapter at all'), published)).toString())).toBe(
      'lora-inference: the adapter is malformed: it is not a safetensors file (its header length is past its end)\n',
    );
    expect(await refusal((await addBytes(adapter.subarray(0, adapter.length - 100), published)).toString())).toBe(
      'lora-inference: the adapter is malformed: tensor layers.3.wv.lora_b lies outside the file\'s data\n',
    );
    expect(await refusal((await addBytes(withMetadata(adapter, { format: 'something-else' }), published)).toString())).toBe(
      'lora-inference: the adapter is malformed: its format is something-else, not lilypad-lora-1\n',
    );
  });
});
