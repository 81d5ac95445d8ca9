/**
 * Blocks as the network sees them: checking that bytes are what a CID names, and finding the links a
 * block holds. Shared by the fetcher (which trusts nobody) and the gateway (which walks DAGs for CARs).
 */
import * as dagPb from '@ipld/dag-pb';
import { equals } from 'multiformats/bytes';
import type { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { sha256 } from 'multiformats/hashes/sha2';
import { StorageError } from '../lib/errors.js';

export const RAW_CONTENT_TYPE = 'application/vnd.ipld.raw';

/** True when `bytes` hash (sha2-256) to the multihash inside `cid`. Other hash functions are refused. */
export async function blockMatchesCid(cid: CID, bytes: Uint8Array): Promise<boolean> {
  if (cid.multihash.code !== sha256.code) {
    throw new StorageError(
      `block ${cid} uses multihash 0x${cid.multihash.code.toString(16)}; only sha2-256 blocks can be verified`,
      { code: 'unsupported-hash', details: { cid: cid.toString(), hashCode: cid.multihash.code } },
    );
  }
  const digest = await sha256.digest(bytes);
  return equals(digest.bytes, cid.multihash.bytes);
}

/** The CIDs a block links to, in order: dag-pb links, or none for a raw block. */
export function blockLinks(cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code === raw.code) return [];
  if (cid.code === dagPb.code) {
    let node: dagPb.PBNode;
    try {
      node = dagPb.decode(bytes);
    } catch (cause) {
      throw new StorageError(`block ${cid} is not valid dag-pb; the DAG cannot be followed`, {
        code: 'block-invalid',
        details: { cid: cid.toString() },
        cause,
      });
    }
    return node.Links.map((link) => link.Hash);
  }
  throw new StorageError(
    `block ${cid} has codec 0x${cid.code.toString(16)}; only dag-pb and raw blocks (UnixFS) are supported`,
    { code: 'unsupported-codec', details: { cid: cid.toString(), codec: cid.code } },
  );
}
