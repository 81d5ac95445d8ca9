/**
 * The one walk over a DAG that makes sure every block under a root is in a blockstore: blocks already there are
 * read, missing ones are asked of a fetcher (the trustless gateway in fetch.ts, bitswap in ipfs-node.ts), which
 * checks each against its CID and stores it. Up to `concurrency` blocks at once; the first failure stops the
 * rest.
 */
import { setMaxListeners } from 'node:events';
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { getBlock } from './blockstore.js';
import { blockLinks } from './dag.js';

export type FetchDagProgressEvent =
  /** The block was already in the blockstore; it was not downloaded. */
  | { type: 'block:present'; cid: CID; bytes: number }
  /** The block was downloaded, matched its CID, and was stored. */
  | { type: 'block:verified'; cid: CID; bytes: number }
  /** Every block of the DAG is in the blockstore. */
  | { type: 'dag:fetched'; cid: CID; blocks: number; fetched: number; bytes: number };

export interface FetchDagResult {
  cid: CID;
  /** Blocks in the DAG. */
  blocks: number;
  /** Blocks downloaded (the others were already present). */
  fetched: number;
  /** Bytes downloaded. */
  bytes: number;
}

export interface WalkDagOptions {
  blockstore: Pick<Blockstore, 'get' | 'has'>;
  /** Gets a block that is not in the blockstore: checked against its CID and stored before it is returned. */
  fetchBlock: (cid: CID, signal: AbortSignal) => Promise<Uint8Array>;
  concurrency: number;
  /**
   * Depth first keeps few blocks queued; breadth first gives bitswap many wants at once, and a file's blocks
   * arrive roughly in order.
   */
  order: 'depth' | 'breadth';
  signal?: AbortSignal;
  onProgress?: (event: FetchDagProgressEvent) => void;
}

export async function walkDag(root: CID, options: WalkDagOptions): Promise<FetchDagResult> {
  const { blockstore, signal, onProgress } = options;
  signal?.throwIfAborted();
  // Aborted when one block fails, so that its siblings stop too.
  const stopAll = new AbortController();
  const stopSignal = signal === undefined ? stopAll.signal : AbortSignal.any([signal, stopAll.signal]);
  // Each block in flight listens on it.
  setMaxListeners(Infinity, stopSignal);
  const seen = new Set<string>([key(root)]);
  const queue: CID[] = [root];
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let blocks = 0;
  let fetched = 0;
  let bytes = 0;

  const visit = async (cid: CID): Promise<void> => {
    let block: Uint8Array;
    if (await blockstore.has(cid, { signal: stopSignal })) {
      block = await getBlock(blockstore, cid, { signal: stopSignal });
      onProgress?.({ type: 'block:present', cid, bytes: block.byteLength });
    } else {
      block = await options.fetchBlock(cid, stopSignal);
      fetched += 1;
      bytes += block.byteLength;
      onProgress?.({ type: 'block:verified', cid, bytes: block.byteLength });
    }
    blocks += 1;
    for (const link of blockLinks(cid, block)) {
      const linkKey = key(link);
      if (seen.has(linkKey)) continue;
      seen.add(linkKey);
      queue.push(link);
    }
  };

  while (failure === undefined && (queue.length > 0 || running.size > 0)) {
    while (failure === undefined && queue.length > 0 && running.size < options.concurrency) {
      const next = (options.order === 'breadth' ? queue.shift() : queue.pop()) as CID;
      const task: Promise<void> = visit(next)
        .catch((error: unknown) => {
          failure ??= { error };
          stopAll.abort();
        })
        .finally(() => running.delete(task));
      running.add(task);
    }
    if (running.size > 0) await Promise.race(running);
  }
  // Let in-flight work settle so nothing is written after we return.
  await Promise.allSettled([...running]);
  if (failure !== undefined) {
    if (signal?.aborted) throw signal.reason;
    throw failure.error;
  }
  onProgress?.({ type: 'dag:fetched', cid: root, blocks, fetched, bytes });
  return { cid: root, blocks, fetched, bytes };
}

function key(cid: CID): string {
  // A CIDv0 and its CIDv1 name the same block: one download.
  return cid.toV1().toString();
}
