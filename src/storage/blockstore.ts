/**
 * Where blocks live: a folder on disk (blockstore-fs), or anything else with the `interface-blockstore`
 * shape (an in-memory store in tests). Functions in this folder take the interface, never the class.
 */
import { FsBlockstore } from 'blockstore-fs';
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { StorageError } from '../lib/errors.js';

export type { Blockstore };
export { FsBlockstore };

/** Opens (creating if needed) a blockstore in `dir`. Close it with `closeBlockstore` or `.close()`. */
export async function openBlockstore(dir: string): Promise<FsBlockstore> {
  const blockstore = new FsBlockstore(dir, { createIfMissing: true });
  try {
    await blockstore.open();
  } catch (cause) {
    throw new StorageError(`cannot open the blockstore at ${dir}; check that the folder is writable`, {
      code: 'blockstore-unavailable',
      details: { dir },
      cause,
    });
  }
  return blockstore;
}

/** Closes a blockstore that has a `close` method; harmless for one that has none. */
export async function closeBlockstore(blockstore: Blockstore): Promise<void> {
  const closable = blockstore as Blockstore & { close?: () => Promise<void> | void };
  await closable.close?.();
}

/** Reads one whole block (the interface yields it in pieces). Throws when the block is absent. */
export async function getBlock(
  blockstore: Pick<Blockstore, 'get'>,
  cid: CID,
  options: { signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of blockstore.get(cid, options)) chunks.push(chunk);
  if (chunks.length === 1) return chunks[0];
  return concat(chunks);
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.byteLength;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
