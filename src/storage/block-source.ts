/**
 * Where a DAG's blocks come from when they are not at hand: a job's inputs (provider, mediator, a re-run by
 * the job creator) and a job's result (job creator, mediator). One interface, three implementations: IPFS
 * peers over libp2p (`ipfsSource`), trustless HTTP gateways (`gatewaySource`), and a list of sources tried in
 * order (`firstSource`). Every block is checked against its CID by the source before it is stored.
 */
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { LilypadError, StorageError } from '../lib/errors.js';
import { fetchBlock, fetchDag } from './fetch.js';
import type { IpfsNode } from './ipfs-node.js';

export interface SourceOptions {
  signal?: AbortSignal;
  /**
   * IPFS peers (multiaddrs ending in /p2p/<id>) that should hold the blocks, taken from signed offers: an
   * IPFS source dials them; a gateway has no use for them.
   */
  peers?: readonly string[];
}

export interface BlockSource {
  /**
   * Puts every block of the DAG under `cid` into the blockstore, each checked against its CID. `onBytes`
   * hears the bytes of the DAG's blocks seen so far, present or fetched, so a caller can stop at a size limit
   * (by aborting). Throws a `StorageError` (`block-missing`, `cid-unavailable`) or `signal`'s reason.
   */
  fetchDag(cid: CID, options: SourceOptions & { onBytes?: (dagBytesSoFar: number) => void }): Promise<void>;
  /** One block, checked against its CID and stored: enough to walk a path inside a DAG without the rest. */
  fetchBlock(cid: CID, options: SourceOptions): Promise<Uint8Array>;
}

export interface InputStore {
  source: BlockSource;
  /** Where `source` puts the blocks, and the job's inputs are read from. */
  blockstore: Blockstore;
}

/**
 * Tries the sources in order: one that lacks a block or fails is followed by the next, which finds what the
 * first already fetched in the blockstore. The error is the last source's.
 */
export function firstSource(sources: readonly BlockSource[]): BlockSource {
  async function eachSource<T>(signal: AbortSignal | undefined, attempt: (source: BlockSource) => Promise<T>): Promise<T> {
    let last: unknown = new StorageError('no source of blocks is configured (no IPFS peer, no gateway)', { code: 'block-missing' });
    for (const source of sources) {
      try {
        return await attempt(source);
      } catch (error) {
        if (signal?.aborted || !(error instanceof LilypadError)) throw error;
        last = error;
      }
    }
    throw last;
  }
  return {
    fetchDag: (cid, options) => eachSource(options.signal, (source) => source.fetchDag(cid, options)),
    fetchBlock: (cid, options) => eachSource(options.signal, (source) => source.fetchBlock(cid, options)),
  };
}

/** Reads blocks from the gateways in order (`firstSource` of one source per gateway). */
export function gatewaySource(gatewayUrls: readonly string[], blockstore: Blockstore): BlockSource {
  return firstSource(
    gatewayUrls.map((gatewayUrl) => ({
      async fetchDag(cid, { signal, onBytes }) {
        // The next gateway walks the whole DAG again (finding what this one fetched), so each walk counts anew.
        let seen = 0;
        await fetchDag(cid, {
          gatewayUrl,
          blockstore,
          signal,
          onProgress: (event) => {
            if (event.type === 'block:present' || event.type === 'block:verified') onBytes?.((seen += event.bytes));
          },
        });
      },
      async fetchBlock(cid, { signal }) {
        const block = await fetchBlock(cid, { gatewayUrl, signal });
        await blockstore.put(cid, block, { signal });
        return block;
      },
    })),
  );
}

/**
 * The usual pair: IPFS peers first (`ipfs`, when this role runs a node over `blockstore`), then the gateways.
 * A peer behind NAT that dialled us is still reachable over that connection; a gateway needs an open port.
 */
export function peersThenGateways(where: { ipfs?: IpfsNode; gatewayUrls: readonly string[]; blockstore: Blockstore }): BlockSource {
  return firstSource([...(where.ipfs ? [ipfsSource(where.ipfs)] : []), gatewaySource(where.gatewayUrls, where.blockstore)]);
}

/** Asks the node's connected peers and the `peers` named in the request, over bitswap, into the node's blockstore. */
export function ipfsSource(node: IpfsNode): BlockSource {
  return {
    async fetchDag(cid, { signal, peers, onBytes }) {
      let seen = 0;
      await node.fetchDag(cid, {
        signal,
        peers,
        onProgress: (event) => {
          if (event.type === 'block:present' || event.type === 'block:verified') onBytes?.((seen += event.bytes));
        },
      });
    },
    fetchBlock: (cid, { signal, peers }) => node.fetchBlock(cid, { signal, peers }),
  };
}
