/**
 * A job's stdout reaches its job creator while the job runs, end to end on the embedded network (real anvil,
 * solver, provider and IPFS nodes): `job:output` events come before the results are on chain and add up to
 * the result's stdout, which is still downloaded and checked against its CID; a peer that is not the deal's
 * provider gets nothing told; a provider whose stream is cut finishes the job as usual.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Stream } from '@libp2p/interface';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { parseEther } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { liveOutputReceiver } from '../src/job-creator/live-output.js';
import { runJob, type JobProgressEvent, type JobResult } from '../src/job-creator/run-job.js';
import { encodeDealIdFrame, encodeFrame, JOB_OUTPUT_PROTOCOL } from '../src/protocol/job-output.js';
import { createIpfsNode, type IpfsNode } from '../src/storage/ipfs-node.js';
import { runCli, startInputsNetwork, type InputsNetwork } from './helpers.js';

const LLM_INPUTS = { Prompt: 'Once upon a time', MaxTokens: '128' };

let dir: string;
let net: InputsNetwork;
let rogue: IpfsNode;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-live-output-'));
  net = await startInputsNetwork(dir);
  rogue = createIpfsNode({ blockstore: new MemoryBlockstore() });
  await rogue.start();
}, 60_000);

afterAll(async () => {
  await rogue?.stop();
  await net?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs a job on the network's job creator (or with `components` changed), keeping every progress event. */
async function run(module: string, inputs: Record<string, string>, onProgress: (event: JobProgressEvent) => void = () => undefined, ipfs?: IpfsNode) {
  const events: JobProgressEvent[] = [];
  const result = await runJob(
    {
      module,
      inputs,
      maxPrice: parseEther('10'),
      mediators: net.network.mediators,
      resultsDir: path.join(dir, 'results'),
      failWhenUnmatched: true,
      onProgress: (event) => {
        events.push(event);
        onProgress(event);
      },
    },
    ipfs ? { ...net.components, ipfs } : net.components,
  );
  return { events, result };
}

/** Resolves once the peer has dropped (or ended) the stream. */
async function untilDropped(stream: Stream): Promise<void> {
  try {
    for await (const _ of stream) void _;
  } catch {
    // reset by the peer
  }
}

describe('llm:v1 with MaxTokens=128, watched live', () => {
  let events: JobProgressEvent[];
  let result: JobResult;
  const rogueStreams: Array<Promise<Stream>> = [];

  beforeAll(async () => {
    // While the job runs, a peer that is not its provider sends text for the deal, as anyone may try.
    const onProgress = (event: JobProgressEvent) => {
      if (event.type !== 'deal:agreed') return;
      const forged = rogue.openStream(net.ipfs.multiaddrs()[0]!, JOB_OUTPUT_PROTOCOL).then((stream) => {
        stream.send(encodeDealIdFrame(event.dealId));
        stream.send(encodeFrame(Buffer.from('FORGED by a peer that is not the provider')));
        return stream;
      });
      rogueStreams.push(forged);
    };
    ({ events, result } = await run('llm:v1', LLM_INPUTS, onProgress));
  }, 120_000);

  test('its stdout comes as job:output events before the results are on chain, and adds up to the checked result', () => {
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(0);
    const types = events.map((event) => event.type);
    const firstOutput = types.indexOf('job:output');
    expect(firstOutput).toBeGreaterThan(types.indexOf('deal:agreed'));
    expect(firstOutput).toBeLessThan(types.indexOf('results:submitted'));
    const outputs = events.filter((event) => event.type === 'job:output');
    expect(outputs.every((event) => event.dealId === result.dealId)).toBe(true);
    expect(outputs.map((event) => event.text).join('')).toBe(result.stdout);
  });

  test("a peer that is not the deal's provider is dropped, and its text never appears", async () => {
    expect(rogueStreams).toHaveLength(1);
    const stream = await rogueStreams[0]!;
    await untilDropped(stream);
    expect(stream.status).not.toBe('open');
    const told = events.flatMap((event) => (event.type === 'job:output' ? [event.text] : [])).join('');
    expect(told).not.toContain('FORGED');
  });
});

test('a provider whose live output stream is cut mid-job still completes the job normally', async () => {
  // A job creator node whose side of the protocol cuts every stream at its first bytes. The receiver is made
  // first, so that the cutting handler, handed in after it, is the one that serves.
  const cutting = createIpfsNode({ blockstore: net.blocks });
  await cutting.start();
  try {
    liveOutputReceiver(cutting);
    let cuts = 0;
    await cutting.handle(JOB_OUTPUT_PROTOCOL, (stream) => {
      void (async () => {
        for await (const _ of stream) {
          void _;
          cuts++;
          stream.abort(new Error('cut by the test'));
          return;
        }
      })().catch(() => undefined);
    });
    const { events, result } = await run('llm:v1', { Prompt: 'The', MaxTokens: '64' }, undefined, cutting);
    expect(cuts).toBe(1);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.length).toBeGreaterThan(0);
    expect(events.some((event) => event.type === 'job:output')).toBe(false);
    expect(events.map((event) => event.type)).toContain('results:accepted');
  } finally {
    await cutting.stop();
  }
}, 120_000);

test('lilypad run --live prints the job\'s stdout to stderr as it runs; stdout still carries the checked result', async () => {
  const run = await runCli(['run', 'llm:v1', '-i', 'Prompt=The', '-i', 'MaxTokens=32', '--live', '--json']);
  expect(run.code, run.stderr).toBe(0);
  const result = JSON.parse(run.stdout) as { stdout: string; exitCode: number };
  expect(result.exitCode).toBe(0);
  expect(result.stdout.length).toBeGreaterThan(0);
  expect(run.stderr).toContain(result.stdout);
}, 120_000);
