/**
 * The job creator's side of a job's live output (protocol/job-output.ts): its IPFS node takes the stream of a
 * deal it follows from that deal's provider, the peer named in the provider's signed resource offer, and
 * tells the text as it comes. Any other stream (another peer, a deal nobody follows, a second stream, one that
 * breaks a limit) is dropped unread. What it tells is a preview; the result checked against its CID is what
 * counts.
 */
import type { Stream } from '@libp2p/interface';
import type { Hex } from 'viem';
import { silentLogger, type Logger } from '../lib/logger.js';
import { dealIdOfFrame, FrameReader, JOB_OUTPUT_LIMITS, JOB_OUTPUT_PROTOCOL } from '../protocol/job-output.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

export interface LiveOutputFollow {
  /** The provider's IPFS peer ids: only their stream for this deal is read. Replaces those given before. */
  expect(peerIds: readonly string[]): void;
  /** Stops following: a stream still open is dropped, and nothing more is told. */
  close(): void;
}

export interface LiveOutputReceiver {
  /** Follows a deal's live output: `onText` gets stdout as UTF-8 text, split anywhere but never inside a character. */
  follow(dealId: Hex, onText: (text: string) => void): LiveOutputFollow;
}

interface Followed {
  peerIds: Set<string>;
  onText: (text: string) => void;
  /** The one stream read for the deal; a second is refused, so that no text is told twice. */
  stream?: Stream;
}

/** One receiver per node: the node has one handler for the protocol. */
const receivers = new WeakMap<IpfsNode, LiveOutputReceiver>();

export function liveOutputReceiver(ipfs: IpfsNode, logger: Logger = silentLogger): LiveOutputReceiver {
  let receiver = receivers.get(ipfs);
  if (receiver) return receiver;
  const followed = new Map<string, Followed>();

  const drop = (stream: Stream, peerId: string, why: string) => {
    logger.debug({ peer: peerId, reason: why }, 'live output stream dropped');
    stream.abort(new Error(why));
  };

  async function read(stream: Stream, peerId: string): Promise<void> {
    const { frameBytes, totalBytes, framesPerSecond, burstFrames, headerTimeoutMs } = JOB_OUTPUT_LIMITS;
    const frames = new FrameReader(frameBytes);
    const decoder = new TextDecoder('utf-8');
    const headerTimer = setTimeout(() => drop(stream, peerId, 'no deal id in time'), headerTimeoutMs).unref();
    let deal: Followed | undefined;
    let received = 0;
    let tokens: number = burstFrames;
    let refilledAt = performance.now();
    try {
      for await (const chunk of stream) {
        for (const frame of frames.push(chunk.subarray())) {
          if (!deal) {
            clearTimeout(headerTimer);
            const dealId = dealIdOfFrame(frame);
            const candidate = dealId === undefined ? undefined : followed.get(dealId);
            if (!candidate) return drop(stream, peerId, 'not a deal followed here');
            if (!candidate.peerIds.has(peerId)) return drop(stream, peerId, "not the deal's provider");
            if (candidate.stream) return drop(stream, peerId, 'the deal has a stream already');
            candidate.stream = stream;
            deal = candidate;
            continue;
          }
          const now = performance.now();
          tokens = Math.min(burstFrames, tokens + ((now - refilledAt) / 1000) * framesPerSecond);
          refilledAt = now;
          if (tokens < 1) return drop(stream, peerId, 'frames faster than allowed');
          tokens -= 1;
          received += frame.length;
          if (received > totalBytes) return drop(stream, peerId, `more than ${totalBytes} bytes`);
          if (deal.stream !== stream) return; // the follow was closed
          const text = decoder.decode(frame, { stream: true });
          if (text) deal.onText(text);
        }
      }
      // Ended by the provider: what is left of a character cut at the end is told as the result file reads.
      const rest = decoder.decode();
      if (deal && deal.stream === stream && rest) deal.onText(rest);
    } catch (error) {
      drop(stream, peerId, (error as Error).message);
    } finally {
      clearTimeout(headerTimer);
    }
  }

  void ipfs
    .handle(JOB_OUTPUT_PROTOCOL, (stream, peerId) => {
      void read(stream, peerId);
    })
    .catch((error: unknown) => logger.warn({ err: error }, 'cannot take live output'));

  receiver = {
    follow(dealId, onText) {
      const key = dealId.toLowerCase();
      const entry: Followed = { peerIds: new Set(), onText };
      followed.set(key, entry);
      return {
        expect(peerIds) {
          entry.peerIds = new Set(peerIds);
        },
        close() {
          if (followed.get(key) === entry) followed.delete(key);
          const { stream } = entry;
          entry.stream = undefined;
          entry.onText = () => undefined;
          if (stream && stream.status === 'open') stream.abort(new Error('no longer followed'));
        },
      };
    },
  };
  receivers.set(ipfs, receiver);
  return receiver;
}
