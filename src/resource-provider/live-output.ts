/**
 * The provider's side of a job's live output (protocol/job-output.ts): a stream to the job creator's IPFS node,
 * opened while the job gets ready, that carries the job's stdout as the executor reports it, coalesced into
 * frames at most every `frameIntervalMs`, up to `totalBytes`, and closed when the job ends. Nothing here can
 * fail or hold up the job: a stream that cannot be opened, or breaks, is given up and the job goes on.
 */
import type { Stream } from '@libp2p/interface';
import type { Hex } from 'viem';
import type { Logger } from '../lib/logger.js';
import { encodeDealIdFrame, encodeFrame, JOB_OUTPUT_LIMITS, JOB_OUTPUT_PROTOCOL } from '../protocol/job-output.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

/** How long opening the stream (dial and protocol) may take at one address, and closing it at the end. */
const OPEN_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 10_000;

export interface LiveOutput {
  /** Takes stdout as the executor reports it (ExecutionRequest.onOutput). */
  write(chunk: Uint8Array): void;
  /** The job ended: what is left is sent and the stream closed, in the background. */
  end(): void;
}

/**
 * Starts streaming a deal's output to its job creator: to the first of `jobCreatorPeers` (the addresses its
 * signed job offer names, `ipfsPeers`) that takes the protocol. Undefined when there are none.
 */
export function startLiveOutput(ipfs: IpfsNode, dealId: Hex, jobCreatorPeers: readonly string[], logger: Logger): LiveOutput | undefined {
  if (jobCreatorPeers.length === 0) return undefined;
  const { frameBytes, totalBytes, frameIntervalMs } = JOB_OUTPUT_LIMITS;
  let stream: Stream | undefined;
  let givenUp = false;
  let ended = false;
  let sending = false;
  let closing = false;
  let pending: Uint8Array[] = [];
  let taken = 0; // stdout bytes accepted for the stream, at most totalBytes
  let lastFrameAt = -Infinity;

  const giveUp = (reason: unknown) => {
    if (givenUp) return;
    givenUp = true;
    pending = [];
    stream?.abort(reason instanceof Error ? reason : new Error(String(reason)));
    logger.debug({ dealId, err: reason }, 'live output given up; the job goes on');
  };

  /** The next frame's stdout: up to frameBytes of what is pending. */
  const nextPayload = (): Uint8Array => {
    const parts: Uint8Array[] = [];
    let size = 0;
    while (pending.length > 0 && size < frameBytes) {
      const head = pending[0]!;
      const take = Math.min(head.length, frameBytes - size);
      parts.push(head.subarray(0, take));
      size += take;
      if (take === head.length) pending.shift();
      else pending[0] = head.subarray(take);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  };

  /** Sends what is pending, one frame per interval while the job runs, the rest at once when it has ended. */
  const pump = async (): Promise<void> => {
    if (sending || !stream || givenUp) return;
    sending = true;
    try {
      while (pending.length > 0 && !givenUp) {
        const wait = lastFrameAt + frameIntervalMs - performance.now();
        if (wait > 0 && !ended) {
          await new Promise((done) => setTimeout(done, wait).unref());
          continue;
        }
        lastFrameAt = performance.now();
        if (!stream.send(encodeFrame(nextPayload()))) await stream.onDrain({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) });
      }
      if (ended && !givenUp && !closing) {
        closing = true;
        await stream.close({ signal: AbortSignal.timeout(CLOSE_TIMEOUT_MS) });
      }
    } catch (error) {
      giveUp(error);
    } finally {
      sending = false;
    }
    // Output that came while the last frame was on its way, or the end.
    if (!givenUp && !closing && (pending.length > 0 || ended)) void pump();
  };

  void (async () => {
    for (const address of jobCreatorPeers) {
      if (givenUp) return;
      try {
        stream = await ipfs.openStream(address, JOB_OUTPUT_PROTOCOL, { signal: AbortSignal.timeout(OPEN_TIMEOUT_MS) });
        break;
      } catch (error) {
        logger.debug({ dealId, peer: address, err: error }, 'live output: peer not reached');
      }
    }
    if (!stream) return giveUp(new Error('no peer of the job offer takes live output'));
    try {
      stream.send(encodeDealIdFrame(dealId));
    } catch (error) {
      return giveUp(error);
    }
    void pump();
  })();

  return {
    write(chunk) {
      if (givenUp || ended || taken >= totalBytes) return;
      const take = Math.min(chunk.length, totalBytes - taken);
      taken += take;
      pending.push(new Uint8Array(chunk.subarray(0, take))); // a copy: the executor's buffer is not ours to keep
      void pump();
    },
    end() {
      if (ended) return;
      ended = true;
      void pump();
    },
  };
}
