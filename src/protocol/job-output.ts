/**
 * A job's live output: the libp2p protocol over which a resource provider sends the job's stdout to the deal's
 * job creator while the job runs. It is a preview that nobody pays for or trusts: the result, downloaded and
 * checked against its CID, is what counts, and losing the stream loses nothing else.
 *
 * One stream per deal, opened by the provider to the job creator's IPFS node (the peer its signed job offer
 * names in `ipfsPeers`). Frames are a 4-byte big-endian length and that many bytes: the first frame is the
 * deal id (32 bytes), each further one a piece of stdout (at most `frameBytes`). The provider closes the stream
 * when the job ends. The job creator reads it only from the deal's provider (the peer its signed resource
 * offer names) and only for a deal it follows; a stream that breaks a limit is dropped.
 */
import { bytesToHex, hexToBytes, type Hex } from 'viem';

export const JOB_OUTPUT_PROTOCOL = '/lilypad/job-output/1.0.0';

export const JOB_OUTPUT_LIMITS = {
  /** Most stdout bytes in one frame. */
  frameBytes: 16 * 1024,
  /** Most stdout bytes one deal's stream carries: enough to watch a job; the result holds all of it. */
  totalBytes: 1024 * 1024,
  /** The provider sends at most one frame this often, coalescing what the job wrote meanwhile. */
  frameIntervalMs: 50,
  /**
   * The job creator's side of the rate: frames are counted against a bucket of `burstFrames` that refills at
   * `framesPerSecond`, so a stream held up on the way may deliver a backlog, but no peer can flood.
   */
  framesPerSecond: 40,
  burstFrames: 200,
  /** The deal id must come this soon after the stream opens. */
  headerTimeoutMs: 10_000,
} as const;

const LENGTH_BYTES = 4;
const DEAL_ID_BYTES = 32;

/** One frame: its length, then its bytes. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(LENGTH_BYTES + payload.length);
  new DataView(frame.buffer).setUint32(0, payload.length);
  frame.set(payload, LENGTH_BYTES);
  return frame;
}

export function encodeDealIdFrame(dealId: Hex): Uint8Array {
  return encodeFrame(hexToBytes(dealId, { size: DEAL_ID_BYTES }));
}

/** The deal id of a first frame, or undefined when it is not one. */
export function dealIdOfFrame(payload: Uint8Array): Hex | undefined {
  return payload.length === DEAL_ID_BYTES ? bytesToHex(payload) : undefined;
}

/**
 * Splits the bytes of a stream into frames as they arrive, in any pieces. A frame longer than `maxBytes`
 * throws: the peer broke the protocol, and the stream is dropped.
 */
export class FrameReader {
  private buffered: Uint8Array = new Uint8Array(0);

  constructor(private readonly maxBytes: number) {}

  push(bytes: Uint8Array): Uint8Array[] {
    let data = this.buffered.length === 0 ? bytes : concat(this.buffered, bytes);
    const frames: Uint8Array[] = [];
    while (data.length >= LENGTH_BYTES) {
      const length = new DataView(data.buffer, data.byteOffset, LENGTH_BYTES).getUint32(0);
      if (length > this.maxBytes) throw new Error(`a frame of ${length} bytes, more than the ${this.maxBytes} allowed`);
      if (data.length < LENGTH_BYTES + length) break;
      frames.push(data.slice(LENGTH_BYTES, LENGTH_BYTES + length));
      data = data.subarray(LENGTH_BYTES + length);
    }
    this.buffered = data.slice();
    return frames;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}
