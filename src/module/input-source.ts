/**
 * Where a job's input blocks come from. Whoever runs a job (provider, mediator, the job creator's re-run)
 * hands `prepare-job.ts` one source and the blockstore it fills; every block is checked against its CID by
 * the source before it is stored. One implementation over trustless HTTP gateways now; an IPFS node (Helia)
 * can be another, with the same contract.
 */
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { LilypadError, StorageError } from '../lib/errors.js';
import { fetchBlock, fetchDag } from '../storage/fetch.js';

export interface InputSource {
  /**
   * Puts every block of the DAG under `cid` into the blockstore, each checked against its CID. `onBytes`
   * hears the bytes of the DAG's blocks seen so far, present or fetched, so a caller can stop at a size limit
   * (by aborting). Throws a `StorageError` (`block-missing` when no source has a block) or `signal`'s reason.
   */
  fetchDag(cid: CID, options: { signal: AbortSignal; onBytes?: (dagBytesSoFar: number) => void }): Promise<void>;
  /** One block, checked against its CID and stored: enough to walk a path inside a DAG without the rest. */
  fetchBlock(cid: CID, options: { signal: AbortSignal }): Promise<Uint8Array>;
}

export interface InputStore {
  source: InputSource;
  /** Where `source` puts the blocks, and the job's inputs are read from. */
  blockstore: Blockstore;
}

/**
 * Reads blocks from the gateways in order: a gateway that lacks a block or fails is followed by the next,
 * which finds what the first already fetched in the blockstore. The error is the last gateway's.
 */
export function gatewayInputSource(gatewayUrls: readonly string[], blockstore: Blockstore): InputSource {
  async function eachGateway<T>(signal: AbortSignal, attempt: (gatewayUrl: string) => Promise<T>): Promise<T> {
    let last: unknown = new StorageError('no gateway is configured to fetch inputs from', { code: 'block-missing' });
    for (const gatewayUrl of gatewayUrls) {
      try {
        return await attempt(gatewayUrl);
      } catch (error) {
        if (signal.aborted || !(error instanceof LilypadError)) throw error;
        last = error;
      }
    }
    throw last;
  }
  return {
    async fetchDag(cid, { signal, onBytes }) {
      await eachGateway(signal, (gatewayUrl) => {
        // The next gateway walks the whole DAG again (finding what this one fetched), so each walk counts anew.
        let seen = 0;
        return fetchDag(cid, {
          gatewayUrl,
          blockstore,
          signal,
          onProgress: (event) => {
            if (event.type === 'block:present' || event.type === 'block:verified') onBytes?.((seen += event.bytes));
          },
        });
      });
    },
    async fetchBlock(cid, { signal }) {
      const block = await eachGateway(signal, (gatewayUrl) => fetchBlock(cid, { gatewayUrl, signal }));
      await blockstore.put(cid, block, { signal });
      return block;
    },
  };
}
