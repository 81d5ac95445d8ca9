/**
 * Data that ships with the package (`models/`: the llm weights), served to jobs' inputs by CID, so that a
 * built-in module's default weights never wait on a peer: the provider, the mediator and the job creator's
 * re-run find them on their own disk. Each file's CID is computed once per process, the first time a job asks
 * for a CID that is not at hand; the file is then added to the role's blockstore like any fetched input.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { StorageError } from '../lib/errors.js';
import { packageRoot } from '../lib/package-root.js';
import { firstSource, peersThenGateways, type BlockSource, type InputStore } from '../storage/block-source.js';
import { addFile, cidOfFile, getBlock } from '../storage/index.js';
import { walkDag } from '../storage/walk-dag.js';
import type { IpfsNode } from '../storage/ipfs-node.js';

export const defaultBuiltinDataDir = (): string => path.join(packageRoot(), 'models');

/** Root CID -> file, per folder, for the life of the process: the files ship with the package and do not change. */
const indexes = new Map<string, Promise<Map<string, string>>>();

function indexOf(dir: string): Promise<Map<string, string>> {
  let index = indexes.get(dir);
  if (!index) {
    index = (async () => {
      const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
      const files = entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name));
      return new Map(await Promise.all(files.map(async (file) => [(await cidOfFile(file)).toString(), file] as const)));
    })();
    indexes.set(dir, index);
  }
  return index;
}

/**
 * Blocks at hand: those already in `blockstore`, and the files in `dir` (added to it when a job asks for one
 * by its CID). Anything else is `block-missing`, for the next source.
 */
export function localSource(blockstore: Blockstore, dir: string = defaultBuiltinDataDir()): BlockSource {
  /** Adds the shipped file whose CID this is; false when none is. */
  async function addIfShipped(cid: CID): Promise<number | undefined> {
    const file = (await indexOf(dir)).get(cid.toString());
    if (file === undefined) return undefined;
    await addFile(file, blockstore);
    return (await stat(file)).size;
  }
  const missing = (cid: CID) => new StorageError(`block ${cid} is not on this machine`, { code: 'block-missing', details: { cid: cid.toString() } });
  return {
    async fetchDag(cid, { signal, onBytes }) {
      const shipped = await addIfShipped(cid);
      if (shipped !== undefined) {
        onBytes?.(shipped);
        return;
      }
      let seen = 0;
      await walkDag(cid, {
        blockstore,
        concurrency: 8,
        order: 'depth',
        signal,
        fetchBlock: async (absent) => {
          throw missing(absent);
        },
        onProgress: (event) => {
          if (event.type === 'block:present') onBytes?.((seen += event.bytes));
        },
      });
    },
    async fetchBlock(cid, { signal }) {
      if (!(await blockstore.has(cid, { signal })) && (await addIfShipped(cid)) === undefined) throw missing(cid);
      return getBlock(blockstore, cid, { signal });
    },
  };
}

/**
 * Where a role that runs jobs (provider, mediator, the job creator's re-run) gets their inputs: the blocks at
 * hand and the data that ships with lilypad, then the IPFS peers that the deal names, then the gateways. Undefined when the role has
 * neither a node nor a gateway: a job with inputs is then refused before it is agreed.
 */
export function jobInputStore(where: { ipfs?: IpfsNode; gatewayUrls: readonly string[]; blockstore: Blockstore }): InputStore | undefined {
  if (!where.ipfs && where.gatewayUrls.length === 0) return undefined;
  return { source: firstSource([localSource(where.blockstore), peersThenGateways(where)]), blockstore: where.blockstore };
}
