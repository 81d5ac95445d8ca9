/**
 * Downloading a DAG from a trustless gateway into a blockstore, block by block. The gateway is not trusted:
 * each block's bytes are hashed and compared with its CID before the block is stored or its links followed,
 * so a finished fetch holds exactly the DAG the CID names, and a failed one holds only verified blocks.
 */
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import * as dagPb from '@ipld/dag-pb';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { LilypadError, StorageError } from '../lib/errors.js';
import { concat } from './blockstore.js';
import { RAW_CONTENT_TYPE, blockMatchesCid } from './dag.js';
import { walkDag, type FetchDagProgressEvent, type FetchDagResult } from './walk-dag.js';

/** Largest block accepted from a gateway: 2 MiB, the limit IPFS implementations share. */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024;

export type { FetchDagProgressEvent, FetchDagResult } from './walk-dag.js';

export interface FetchDagOptions {
  /**
   * Base URL of a trustless gateway; blocks are read from `${gatewayUrl}/ipfs/<cid>?format=raw`. Credentials
   * in the URL are sent as Basic authorization and never shown; a query or fragment is ignored.
   */
  gatewayUrl: string;
  blockstore: Pick<Blockstore, 'get' | 'has' | 'put'>;
  signal?: AbortSignal;
  onProgress?: (event: FetchDagProgressEvent) => void;
  /** Blocks downloaded at once. Default 8. */
  concurrency?: number;
  /** Give up on one block after this long (code 'gateway-timeout'). Default 30 s. */
  blockTimeoutMs?: number;
  /** Refuse blocks larger than this (code 'block-too-large'). Default `MAX_BLOCK_BYTES`. */
  maxBlockBytes?: number;
}

/**
 * Makes sure every block of the DAG under `cid` is in `options.blockstore`, downloading the missing ones.
 * Throws a `StorageError` with code 'block-mismatch', 'block-missing', 'block-too-large', 'invalid-gateway-url',
 * 'gateway-unreachable', 'gateway-timeout', 'gateway-error', 'unsupported-codec' or 'unsupported-hash';
 * when `signal` aborts, throws its reason.
 */
export async function fetchDag(cid: CID, options: FetchDagOptions): Promise<FetchDagResult> {
  const gateway = parseGatewayUrl(options.gatewayUrl);
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const { blockstore, signal, onProgress } = options;
  signal?.throwIfAborted();

  const blockOptions = { root: cid, gateway, timeoutMs: options.blockTimeoutMs ?? 30_000, maxBlockBytes: options.maxBlockBytes ?? MAX_BLOCK_BYTES };
  return walkDag(cid, {
    blockstore,
    concurrency,
    order: 'depth',
    signal,
    onProgress,
    fetchBlock: async (next, blockSignal) => {
      const block = await downloadBlock(next, { ...blockOptions, signal: blockSignal });
      await blockstore.put(next, block, { signal: blockSignal });
      return block;
    },
  });
}

/**
 * Downloads one block and returns it only if its bytes match `cid` (it is not stored): enough to walk a path
 * inside a DAG without fetching the rest of it. Throws as `fetchDag` does.
 */
export async function fetchBlock(
  cid: CID,
  options: Pick<FetchDagOptions, 'gatewayUrl' | 'signal' | 'blockTimeoutMs' | 'maxBlockBytes'>,
): Promise<Uint8Array> {
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  return downloadBlock(cid, {
    root: cid,
    gateway: parseGatewayUrl(options.gatewayUrl),
    signal,
    timeoutMs: options.blockTimeoutMs ?? 30_000,
    maxBlockBytes: options.maxBlockBytes ?? MAX_BLOCK_BYTES,
  });
}

interface Gateway {
  base: string;
  headers: Record<string, string>;
}

interface BlockContext {
  root: CID;
  gateway: Gateway;
  signal: AbortSignal;
  timeoutMs: number;
  maxBlockBytes: number;
}

/** Downloads one block and returns its bytes only if they match `cid`. */
async function downloadBlock(cid: CID, context: BlockContext): Promise<Uint8Array> {
  assertSupported(cid);
  const { gateway, root } = context;
  const url = `${gateway.base}/ipfs/${cid}?format=raw`;
  const of = cid.equals(root) ? '' : ` (in the DAG of ${root})`;
  const timeout = AbortSignal.timeout(context.timeoutMs);
  const signal = AbortSignal.any([context.signal, timeout]);
  const details = { cid: cid.toString(), root: root.toString(), gateway: gateway.base };

  let block: Uint8Array;
  try {
    const response = await fetch(url, { headers: gateway.headers, signal });
    if (response.status === 404 || response.status === 410) {
      // A provider says why it no longer has a result (its keeping time passed); that is worth passing on.
      const reason = await gatewayReason(response);
      throw new StorageError(
        reason
          ? `the gateway ${gateway.base} does not have block ${cid}${of}: ${reason}`
          : `the gateway ${gateway.base} does not have block ${cid}${of}; ask whoever published it to serve it, or try another gateway`,
        { code: 'block-missing', details: { ...details, status: response.status }, retryable: reason === undefined },
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new StorageError(
        `the gateway ${gateway.base} answered ${response.status} for block ${cid}${of}; try again later or use another gateway`,
        { code: 'gateway-error', details: { ...details, status: response.status }, retryable: response.status >= 500 },
      );
    }
    block = await readBody(response, cid, context);
  } catch (error) {
    if (error instanceof LilypadError) throw error;
    if (context.signal.aborted) throw context.signal.reason;
    if (timeout.aborted) {
      throw new StorageError(
        `the gateway ${gateway.base} did not send block ${cid}${of} within ${context.timeoutMs} ms; try again or use another gateway`,
        { code: 'gateway-timeout', details, retryable: true, cause: error },
      );
    }
    throw new StorageError(
      `cannot reach the gateway ${gateway.base} to fetch block ${cid}${of}: ${describe(error)}; check that it is running and that the URL is right`,
      { code: 'gateway-unreachable', details, retryable: true, cause: error },
    );
  }

  if (!(await blockMatchesCid(cid, block))) {
    throw new StorageError(
      `block ${cid}${of} from the gateway ${gateway.base} does not match its CID (its ${block.byteLength} bytes hash to something else); the gateway sent wrong data, which was not stored; use another gateway`,
      { code: 'block-mismatch', details: { ...details, bytes: block.byteLength } },
    );
  }
  return block;
}

async function readBody(response: Response, cid: CID, context: BlockContext): Promise<Uint8Array> {
  const tooLarge = (): StorageError =>
    new StorageError(
      `the gateway ${context.gateway.base} sent more than ${context.maxBlockBytes} bytes for block ${cid}; no block is that large, so the gateway is faulty; use another gateway`,
      { code: 'block-too-large', details: { cid: cid.toString(), gateway: context.gateway.base } },
    );
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (declared > context.maxBlockBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (response.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length > context.maxBlockBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks);
}

function assertSupported(cid: CID): void {
  if (cid.code !== dagPb.code && cid.code !== raw.code) {
    throw new StorageError(
      `block ${cid} has codec 0x${cid.code.toString(16)}; only dag-pb and raw blocks (UnixFS) can be fetched`,
      { code: 'unsupported-codec', details: { cid: cid.toString(), codec: cid.code } },
    );
  }
  if (cid.multihash.code !== sha256.code) {
    throw new StorageError(
      `block ${cid} uses multihash 0x${cid.multihash.code.toString(16)}; only sha2-256 blocks can be verified, so it is not fetched`,
      { code: 'unsupported-hash', details: { cid: cid.toString(), hashCode: cid.multihash.code } },
    );
  }
}

/**
 * The base URL to request (without credentials, query or fragment), the headers to send (credentials in the
 * URL become Basic authorization, which `fetch` requires), and a form of the URL safe to show.
 */
function parseGatewayUrl(gatewayUrl: string): Gateway {
  let url: URL;
  try {
    url = new URL(gatewayUrl);
  } catch (cause) {
    throw new StorageError(`the gateway URL is not a URL; give one like http://127.0.0.1:8080`, {
      code: 'invalid-gateway-url',
      cause,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StorageError(`the gateway URL must be http or https, not ${url.protocol}`, {
      code: 'invalid-gateway-url',
    });
  }
  const headers: Record<string, string> = { accept: RAW_CONTENT_TYPE };
  if (url.username !== '' || url.password !== '') {
    const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
  }
  const base = `${url.protocol}//${url.host}${url.pathname}`.replace(/\/+$/, '');
  return { base, headers };
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.code !== undefined) return cause.code;
  // The Fetch standard refuses some ports outright (1, 22, 25, ...) before any connection is tried.
  if (cause?.message === 'bad port') return 'the port is one that fetch refuses to use (a blocked port)';
  if (cause?.message !== undefined) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The `error.message` of a small JSON answer (the shape the results server answers with), if it has one. */
async function gatewayReason(response: Response): Promise<string | undefined> {
  // Read only when small and said to be: a gateway is trusted with nothing, its memory use included.
  const length = Number(response.headers.get('content-length') ?? Infinity);
  if (!response.headers.get('content-type')?.includes('application/json') || !(length <= 4096)) {
    await response.body?.cancel();
    return undefined;
  }
  const body = (await response.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | undefined;
  // Only a reason the gateway gives for the block being gone on purpose; a plain "not held here" adds nothing.
  return body?.error?.code === 'result-expired' && typeof body.error.message === 'string' ? body.error.message.slice(0, 300) : undefined;
}
