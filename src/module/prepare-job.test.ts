/**
 * Inputs by CID through the one pipeline every runner uses: a module that reads `/inputs`, its inputs served
 * by a real trustless gateway on 127.0.0.1 from another blockstore, fetched and checked block by block.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createWasmExecutor } from '../executor/wasm/wasm-executor.js';
import type { JobOffer } from '../protocol/offers.js';
import { addBytes, addDirectory, cidOfBytes, cidOfDirectory } from '../storage/add.js';
import { startGateway, type RunningGateway } from '../storage/serve.js';
import { gatewaySource } from '../storage/block-source.js';
import { prepareJob, runPreparedJob, type PrepareJobComponents } from './prepare-job.js';
import type { ModuleResolver, ResolvedModule } from './resolve.js';

const probeUrl = new URL('../executor/wasm/testdata/probe.wasm', import.meta.url);
const probe = readFileSync(probeUrl);
const NOBODY_HAS = 'bafkreib6epubmabzlffdhckpmvsodmjuro6xuaei2qwevs3t52xnlhaatu';

let scratch: string;
let gateway: RunningGateway;
let silent: Server;
let silentUrl: string;
let folderCid: string;
let fileCid: string;
let probeCid: string;
const published = new MemoryBlockstore();
const executor = createWasmExecutor();

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'lilypad-inputs-'));
  const folder = join(scratch, 'published');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  writeFileSync(join(folder, 'a.txt'), 'hello from a CID\n');
  writeFileSync(join(folder, 'message.txt'), 'a message');
  writeFileSync(join(folder, 'sub', 'b.txt'), 'inside the DAG\n');
  folderCid = (await addDirectory(folder, published)).toString();
  fileCid = (await addBytes(new TextEncoder().encode('one file\n'), published)).toString();
  probeCid = (await cidOfBytes(probe)).toString();
  mkdirSync(join(scratch, 'module'));
  copyFileSync(probeUrl, join(scratch, 'module', 'probe.wasm'));
  gateway = await startGateway({ blockstore: published });
  // Accepts connections and never answers: a source that has nothing to say.
  silent = createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  silentUrl = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await executor.close();
  await gateway.close();
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
  rmSync(scratch, { recursive: true, force: true });
});

/** The probe run with `args`, its Inputs section rendered with `inputs`. */
function templateOf(args: string[], inputs: string): string {
  return `{"machine": {"gpu": 0, "cpu": 1000, "ram": 64},
    "job": {"APIVersion": "V1beta1", "Spec": {"Engine": "Wasm",
      "Wasm": {"EntryModule": {"CID": "${probeCid}"}, "Parameters": ${JSON.stringify(args)}},
      "Inputs": ${inputs}, "Timeout": 30}}}`;
}

let runs = 0;
async function runWith(args: string[], inputs: string, values: Record<string, string>, options: { gateways?: string[]; timeoutMs?: number; maxBytes?: number } = {}) {
  const module: ResolvedModule = { name: 'probe', ref: { repository: 'test:probe', commit: 'c0ffee', path: '' } as never, dir: join(scratch, 'module'), template: templateOf(args, inputs) };
  const modules: ModuleResolver = { resolve: async () => module, resolveRef: async () => module };
  const blockstore = new MemoryBlockstore();
  const components: PrepareJobComponents = {
    modules,
    executors: [executor],
    inputs: { source: gatewaySource(options.gateways ?? [gateway.url], blockstore), blockstore, timeoutMs: options.timeoutMs, maxBytes: options.maxBytes },
  };
  const job = { module: module.ref, moduleName: 'probe', inputs: values, terms: { moduleId: `0x${'1'.repeat(64)}`, inputsHash: `0x${'2'.repeat(64)}` } } as unknown as JobOffer;
  const prepared = await prepareJob(job, components);
  const resultDir = join(scratch, `result-${++runs}`);
  const started = Date.now();
  const result = await runPreparedJob(prepared, { jobId: 'c0ffee', resultDir });
  const read = (name: string) => (existsSync(join(resultDir, name)) ? readFileSync(join(resultDir, name), 'utf8') : undefined);
  return { result, stdout: read('stdout'), error: read('error'), exitCode: read('exitCode'), ms: Date.now() - started, resultDir, prepared };
}

describe('inputs by CID, fetched and shown read-only at their paths', () => {
  test('a folder input: the job reads its files at its Path', async () => {
    const run = await runWith(['cat', '/inputs/data/sub/b.txt'], '[{"StorageSource": "IPFS", "CID": {{ .DataCID }}, "Path": "/inputs/data"}]', { DataCID: folderCid });
    expect(run.error).toBeUndefined();
    expect(run.stdout).toBe('inside the DAG\n');
    expect(run.result.exitCode).toBe(0);
    // The inputs folder is the job's, and gone once it ran; it is not part of the result.
    expect(existsSync(`${run.resultDir}.inputs`)).toBe(false);
  });

  test('a file input, a path inside a CID, and lowercase keys, side by side', async () => {
    const inputs = '[{"cid": {{ .One }}, "path": "/inputs/one.txt"}, {"cid": {{ .Lora }}, "path": "/inputs/deep/b.txt"}]';
    const values = { One: fileCid, Lora: `${folderCid}/sub/b.txt` };
    const a = await runWith(['cat', '/inputs/one.txt'], inputs, values);
    expect(a.stdout).toBe('one file\n');
    const b = await runWith(['cat', '/inputs/deep/b.txt'], inputs, values);
    expect(b.stdout).toBe('inside the DAG\n');
    expect(b.prepared.inputs.map((input) => input.within)).toEqual([[], ['sub', 'b.txt']]);
  });

  test('a folder as /inputs itself; the job cannot write into it', async () => {
    const run = await runWith(['write-inputs'], `[{"CID": "${folderCid}", "Path": "/inputs"}]`, {});
    expect(run.stdout).toBe('write-inputs Capabilities insufficient\n');
    const read = await runWith(['cat', '/inputs/a.txt'], `[{"CID": "${folderCid}", "Path": "/inputs"}]`, {});
    expect(read.stdout).toBe('hello from a CID\n');
  });

  test('two runs of one job, fetching from different gateways, give the same result CID', async () => {
    const inputs = `[{"CID": "${folderCid}", "Path": "/inputs"}]`;
    const other = await startGateway({ blockstore: published });
    try {
      const [a, b] = [await runWith(['random'], inputs, {}), await runWith(['random'], inputs, {}, { gateways: [other.url] })];
      expect((await cidOfDirectory(a.resultDir)).equals(await cidOfDirectory(b.resultDir))).toBe(true);
      const [c, d] = [await runWith([], inputs, {}), await runWith([], inputs, {}, { gateways: [other.url] })];
      expect(c.stdout).toContain('input a message size 9 mtime 1704067200 ino 0\n');
      expect((await cidOfDirectory(c.resultDir)).equals(await cidOfDirectory(d.resultDir))).toBe(true);
    } finally {
      await other.close();
    }
  });
});

describe('inputs that cannot be had: the job fails at once with a result that says why', () => {
  test('a CID that no source has: one line naming the input and the CID', async () => {
    const run = await runWith(['cat', '/inputs/x'], '[{"CID": {{ .ImagesCID }}, "Path": "/inputs/x"}]', { ImagesCID: NOBODY_HAS });
    expect(run.exitCode).toBe('1');
    expect(run.stdout).toBe('');
    expect(run.error).toBe(`input-unavailable: input ImagesCID (${NOBODY_HAS}) could not be fetched: no source served it\n`);
  });

  test('a source that never answers: given up after the stated time, with the same message', async () => {
    const run = await runWith(['cat', '/inputs/x'], '[{"CID": {{ .ImagesCID }}, "Path": "/inputs/x"}]', { ImagesCID: NOBODY_HAS }, { gateways: [silentUrl], timeoutMs: 500 });
    expect(run.error).toBe(`input-unavailable: input ImagesCID (${NOBODY_HAS}) could not be fetched: no source served it\n`);
    expect(run.ms).toBeLessThan(5000);
  });

  test('a slow source that keeps sending is not cut off: the time limit is for a silence', async () => {
    const deep = join(scratch, 'deep');
    mkdirSync(join(deep, 'a', 'b', 'c', 'd', 'e'), { recursive: true });
    writeFileSync(join(deep, 'a', 'b', 'c', 'd', 'e', 'f.txt'), 'at the bottom\n');
    const deepCid = (await addDirectory(deep, published)).toString();
    // Each block 300 ms late; seven of them one after another (each folder's link is learnt from its parent).
    const slow = createServer((request, response) => {
      setTimeout(async () => {
        const answer = await fetch(new URL(request.url!, gateway.url), { headers: { accept: String(request.headers.accept ?? '') } });
        response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? '' });
        response.end(Buffer.from(await answer.arrayBuffer()));
      }, 300);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
      const run = await runWith(['cat', '/inputs/deep/a/b/c/d/e/f.txt'], `[{"CID": "${deepCid}", "Path": "/inputs/deep"}]`, {}, { gateways: [url], timeoutMs: 1000 });
      expect(run.error).toBeUndefined();
      expect(run.stdout).toBe('at the bottom\n');
      expect(run.ms).toBeGreaterThan(1000);
    } finally {
      slow.closeAllConnections();
      await new Promise((resolve) => slow.close(resolve));
    }
  });

  test('a second gateway is asked when the first lacks the CID', async () => {
    const blank = await startGateway({ blockstore: new MemoryBlockstore() });
    try {
      const run = await runWith(['cat', '/inputs/data/a.txt'], `[{"CID": "${folderCid}", "Path": "/inputs/data"}]`, {}, { gateways: [blank.url, gateway.url] });
      expect(run.stdout).toBe('hello from a CID\n');
    } finally {
      await blank.close();
    }
  });

  test('an input larger than the limit, a file (by its stated size) and a folder (by its blocks)', async () => {
    const file = await runWith([], '[{"CID": {{ .Big }}, "Path": "/inputs/big"}]', { Big: fileCid }, { maxBytes: 4 });
    expect(file.error).toBe(`input-too-large: input Big (${fileCid}) is larger than 4 bytes, the most an input may be here\n`);
    const folder = await runWith([], `[{"CID": "${folderCid}", "Path": "/inputs/data"}]`, {}, { maxBytes: 64 });
    expect(folder.error).toMatch(/^input-too-large: input \/inputs\/data \(bafy\w+\) is larger than 64 bytes/);
  });

  test('a path inside a CID that is not there, and a file given as /inputs itself', async () => {
    const missing = await runWith([], `[{"CID": "${folderCid}/sub/nope.txt", "Path": "/inputs/n"}]`, {});
    expect(missing.error).toBe(`input-not-found: input /inputs/n (${folderCid}/sub/nope.txt) does not exist: its DAG has no such path\n`);
    const file = await runWith([], `[{"CID": "${fileCid}", "Path": "/inputs"}]`, {});
    expect(file.error).toBe(`input-unusable: input /inputs (${fileCid}) is a file; only a folder can be /inputs itself\n`);
  });
});

describe('inputs refused before anything is agreed', () => {
  test('a Path that leaves /inputs', async () => {
    await expect(runWith([], `[{"CID": "${folderCid}", "Path": "/inputs/../etc"}]`, {})).rejects.toThrow(
      'module probe: input /inputs/../etc has Path "/inputs/../etc"; a Path must be /inputs or a path under it without "." or ".." segments',
    );
  });

  test('a job with inputs where nothing can fetch them', async () => {
    const module: ResolvedModule = { name: 'probe', ref: {} as never, dir: join(scratch, 'module'), template: templateOf([], `[{"CID": "${folderCid}", "Path": "/inputs/d"}]`) };
    const job = { module: module.ref, moduleName: 'probe', inputs: {}, terms: { moduleId: '0x' + '11'.repeat(32), inputsHash: '0x' + '22'.repeat(32) } } as unknown as JobOffer;
    await expect(prepareJob(job, { modules: { resolve: async () => module, resolveRef: async () => module }, executors: [executor] })).rejects.toThrow(
      'module probe takes inputs by CID and nothing here can fetch them',
    );
  });
});
