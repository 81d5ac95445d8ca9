/**
 * A job's live output between two real IPFS nodes on loopback: the provider's sender (resource-provider/
 * live-output.ts) and the job creator's receiver, and the receiver's rules against peers that break them.
 */
import type { Stream } from '@libp2p/interface';
import { MemoryBlockstore } from 'blockstore-core/memory';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { silentLogger } from '../lib/logger.js';
import { encodeDealIdFrame, encodeFrame, JOB_OUTPUT_LIMITS, JOB_OUTPUT_PROTOCOL } from '../protocol/job-output.js';
import { startLiveOutput } from '../resource-provider/live-output.js';
import { createIpfsNode, type IpfsNode } from '../storage/ipfs-node.js';
import { liveOutputReceiver, type LiveOutputReceiver } from './live-output.js';

let dealCount = 0;
const newDealId = (): Hex => `0x${(++dealCount).toString(16).padStart(64, 'd')}` as Hex;

/** Resolves when the peer has dropped the stream (or ended it): what the receiver did with it is then done. */
async function untilDropped(stream: Stream): Promise<void> {
  try {
    for await (const _ of stream) void _;
  } catch {
    // reset by the peer
  }
}

describe('live output between two IPFS nodes', () => {
  let jobCreator: IpfsNode;
  let provider: IpfsNode;
  let rogue: IpfsNode;
  let receiver: LiveOutputReceiver;

  beforeAll(async () => {
    [jobCreator, provider, rogue] = [0, 1, 2].map(() => createIpfsNode({ blockstore: new MemoryBlockstore() }));
    await Promise.all([jobCreator.start(), provider.start(), rogue.start()]);
    receiver = liveOutputReceiver(jobCreator);
  });
  afterAll(async () => {
    await Promise.all([jobCreator?.stop(), provider?.stop(), rogue?.stop()]);
  });

  /** Follows a deal from `provider`, and gathers what it tells until the sender's stream ends. */
  const followFromProvider = (dealId: Hex) => {
    const texts: string[] = [];
    const follow = receiver.follow(dealId, (text) => texts.push(text));
    follow.expect([provider.peerId.toString()]);
    return { texts, follow };
  };

  /** A raw stream to the job creator, as any peer can open one. */
  const openRaw = (from: IpfsNode) => from.openStream(jobCreator.multiaddrs()[0]!, JOB_OUTPUT_PROTOCOL);

  test("the provider's stdout reaches the job creator in order, whole, and UTF-8 safe across chunks", async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const live = startLiveOutput(provider, dealId, jobCreator.multiaddrs(), silentLogger)!;
    const words = 'héllo wörld, ünïcode ✓ and 🐄 moo\n'.repeat(20);
    const bytes = Buffer.from(words, 'utf8');
    // Written one byte at a time: every multi-byte character is cut across writes, and so across frames.
    for (let at = 0; at < bytes.length; at++) live.write(bytes.subarray(at, at + 1));
    live.end();
    await expect.poll(() => texts.join('')).toBe(words);
    expect(texts.every((text) => !text.includes('\uFFFD'))).toBe(true);
    follow.close();
  });

  test('the sender stops at totalBytes, and the job creator gets exactly those bytes', async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const live = startLiveOutput(provider, dealId, jobCreator.multiaddrs(), silentLogger)!;
    const { totalBytes } = JOB_OUTPUT_LIMITS;
    const chunk = Buffer.alloc(100_000, 'y');
    for (let sent = 0; sent < totalBytes * 2; sent += chunk.length) live.write(chunk);
    live.end();
    await expect.poll(() => texts.join('').length, { timeout: 15_000 }).toBe(totalBytes);
    follow.close();
  });

  test('a sender whose job creator takes no live output gives up quietly', async () => {
    // The rogue node does not handle the protocol: the stream is never opened, and writes are dropped.
    const live = startLiveOutput(provider, newDealId(), rogue.multiaddrs(), silentLogger)!;
    live.write(Buffer.from('nobody hears this'));
    live.end();
    expect(startLiveOutput(provider, newDealId(), [], silentLogger)).toBeUndefined();
  });

  test("a peer that is not the deal's provider is dropped, and its text never told", async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const stream = await openRaw(rogue);
    stream.send(encodeDealIdFrame(dealId));
    stream.send(encodeFrame(Buffer.from('FORGED by another peer')));
    await untilDropped(stream);
    expect(stream.status).not.toBe('open');
    expect(texts).toEqual([]);
    follow.close();
  });

  test('a stream for a deal nobody follows here is dropped', async () => {
    const stream = await openRaw(provider);
    stream.send(encodeDealIdFrame(newDealId()));
    stream.send(encodeFrame(Buffer.from('unfollowed')));
    await untilDropped(stream);
    expect(stream.status).not.toBe('open');
  });

  test('a second stream for the same deal is refused, so that no text is told twice', async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const first = await openRaw(provider);
    first.send(encodeDealIdFrame(dealId));
    first.send(encodeFrame(Buffer.from('first ')));
    await expect.poll(() => texts.join('')).toBe('first ');
    const second = await openRaw(provider);
    second.send(encodeDealIdFrame(dealId));
    second.send(encodeFrame(Buffer.from('second ')));
    await untilDropped(second);
    first.send(encodeFrame(Buffer.from('again')));
    await first.close();
    await expect.poll(() => texts.join('')).toBe('first again');
    follow.close();
  });

  test('a frame longer than frameBytes drops the stream; what came before it stays told', async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const stream = await openRaw(provider);
    stream.send(encodeDealIdFrame(dealId));
    stream.send(encodeFrame(Buffer.from('fine ')));
    stream.send(encodeFrame(Buffer.alloc(JOB_OUTPUT_LIMITS.frameBytes + 1, 'x')));
    stream.send(encodeFrame(Buffer.from('after')));
    await untilDropped(stream);
    expect(texts.join('')).toBe('fine ');
    follow.close();
  });

  test('frames faster than the rate allows drop the stream', async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const stream = await openRaw(provider);
    stream.send(encodeDealIdFrame(dealId));
    for (let frame = 0; frame < JOB_OUTPUT_LIMITS.burstFrames * 3; frame++) stream.send(encodeFrame(Buffer.from('z')));
    await untilDropped(stream);
    expect(texts.join('').length).toBeLessThan(JOB_OUTPUT_LIMITS.burstFrames * 3);
    follow.close();
  });

  test('a closed follow tells nothing more and drops its stream', async () => {
    const dealId = newDealId();
    const { texts, follow } = followFromProvider(dealId);
    const stream = await openRaw(provider);
    stream.send(encodeDealIdFrame(dealId));
    stream.send(encodeFrame(Buffer.from('before ')));
    await expect.poll(() => texts.join('')).toBe('before ');
    follow.close();
    await untilDropped(stream);
    expect(texts.join('')).toBe('before ');
  });
});
