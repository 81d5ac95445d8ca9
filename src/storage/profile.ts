/**
 * The one chunking profile this project uses to turn bytes and folders into UnixFS DAGs.
 *
 * Why a CID is only comparable under one profile: a UnixFS CID is the hash of the root block of a DAG, and
 * the shape of that DAG is a choice, not a property of the content. The same 3 MiB file is three 1 MiB raw
 * leaves under one root here, but twelve 256 KiB dag-pb leaves under another root with Kubo's older default;
 * CIDv0 against CIDv1, raw leaves against wrapped leaves, a stored mtime or mode, or a different point at
 * which a directory becomes a HAMT each give another root hash for identical bytes. Optimistic
 * reproducibility compares the resource provider's result CID with the mediator's, so both must build
 * DAGs with exactly these settings: change any of them and honest providers get slashed. Never change
 * this profile in place; a new one would need a new name and a protocol change.
 *
 * The settings are those of `unixfs-v1-2025` from IPIP-499 (https://github.com/ipfs/specs/pull/499), which
 * Kubo also offers (`ipfs add --cid-profile unixfs-v1-2025`). They are written out here rather than left to
 * the importer's `profile` option, so that an importer upgrade cannot move them; `profile.test.ts` checks
 * they still agree with the importer's own reading of the profile name.
 */
import type { ImporterOptions } from 'ipfs-unixfs-importer';
import { fixedSize } from 'ipfs-unixfs-importer/chunker';
import { balanced } from 'ipfs-unixfs-importer/layout';
import { sha256 } from 'multiformats/hashes/sha2';

export const PROFILE_NAME = 'unixfs-v1-2025';
export type ProfileName = typeof PROFILE_NAME;

/** The parameters of the profile, as plain values (for docs, logs and checks). */
export const PROFILE = Object.freeze({
  name: PROFILE_NAME,
  cidVersion: 1,
  /** Leaves are raw blocks (codec 0x55), not dag-pb nodes wrapping the bytes. */
  rawLeaves: true,
  /** Multihash of every block. */
  hash: 'sha2-256',
  hashCode: sha256.code,
  /** Fixed-size chunking, 1 MiB. */
  chunkSize: 1_048_576,
  /** Balanced file DAG, at most this many links per internal node. */
  maxChildrenPerNode: 1_024,
  /** A file that fits one chunk is that raw block itself, with no dag-pb node above it. */
  reduceSingleLeafToSelf: true,
  /** A directory whose dag-pb block would exceed this many bytes becomes a HAMT shard. */
  shardSplitThresholdBytes: 262_144,
  /** The threshold is measured against the exact serialized block size, not an estimate of link bytes. */
  shardSplitStrategy: 'block-bytes',
  /** 2^8 = 256 buckets per HAMT level. */
  shardFanoutBits: 8,
  /** dag-pb field order as go-ipfs writes it. */
  fieldOrder: 'links-first',
  /** No mtime, no mode: the same bytes give the same CID whenever and wherever they were written. */
  mtime: false,
  mode: false,
} as const);

/**
 * Importer options for this profile. A fresh object on each call: the importer writes into the options
 * it is given, so a shared object could be changed under another caller.
 */
export function importerOptions(): ImporterOptions {
  return {
    cidVersion: PROFILE.cidVersion,
    rawLeaves: PROFILE.rawLeaves,
    reduceSingleLeafToSelf: PROFILE.reduceSingleLeafToSelf,
    chunker: fixedSize({ chunkSize: PROFILE.chunkSize }),
    layout: balanced({ maxChildrenPerNode: PROFILE.maxChildrenPerNode }),
    shardSplitThresholdBytes: PROFILE.shardSplitThresholdBytes,
    shardSplitStrategy: PROFILE.shardSplitStrategy,
    shardFanoutBits: PROFILE.shardFanoutBits,
    fieldOrder: PROFILE.fieldOrder,
  };
}
