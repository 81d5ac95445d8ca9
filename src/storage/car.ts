/**
 * CARv1 output (https://ipld.io/specs/transport/car/carv1/): a header naming the root, then every block of
 * the DAG once, depth-first in link order, each as varint(length) | CID bytes | block bytes. Written by
 * hand because the only CBOR it needs is one fixed-shape header.
 */
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { StorageError } from '../lib/errors.js';
import { concat, getBlock } from './blockstore.js';
import { blockLinks } from './dag.js';

export const CAR_CONTENT_TYPE = 'application/vnd.ipld.car; version=1';

export interface CarOptions {
  signal?: AbortSignal;
}

/** Yields a CARv1 of the whole DAG under `root`, piece by piece. Throws 'block-missing' on a gap. */
export async function* carOfDag(
  root: CID,
  blockstore: Pick<Blockstore, 'get' | 'has'>,
  options: CarOptions = {},
): AsyncGenerator<Uint8Array> {
  const header = carHeader(root);
  yield concat([varint(header.byteLength), header]);

  const seen = new Set<string>();
  const stack: CID[] = [root];
  while (stack.length > 0) {
    options.signal?.throwIfAborted();
    const cid = stack.pop() as CID;
    const key = cid.toString();
    if (seen.has(key)) continue;
    seen.add(key);
    if (!(await blockstore.has(cid, options))) {
      throw new StorageError(`block ${cid} of ${root} is not in the blockstore; the CAR is incomplete`, {
        code: 'block-missing',
        details: { cid: key, root: root.toString() },
      });
    }
    const bytes = await getBlock(blockstore, cid, options);
    yield concat([varint(cid.bytes.byteLength + bytes.byteLength), cid.bytes]);
    yield bytes;
    const links = blockLinks(cid, bytes);
    for (let i = links.length - 1; i >= 0; i--) stack.push(links[i]);
  }
}

/** The DAG-CBOR encoding of `{ roots: [root], version: 1 }`, keys in DAG-CBOR order (length first). */
function carHeader(root: CID): Uint8Array {
  const text = (value: string): Uint8Array => {
    const bytes = new TextEncoder().encode(value);
    return concat([cborHead(3, bytes.byteLength), bytes]);
  };
  // A CID in DAG-CBOR is tag 42 over a byte string of 0x00 followed by the CID's bytes.
  const cidBytes = concat([Uint8Array.of(0), root.bytes]);
  return concat([
    cborHead(5, 2),
    text('roots'),
    cborHead(4, 1),
    Uint8Array.of(0xd8, 42),
    cborHead(2, cidBytes.byteLength),
    cidBytes,
    text('version'),
    cborHead(0, 1),
  ]);
}

/** A CBOR initial byte and argument for major type `major`, in the shortest form, as DAG-CBOR requires. */
function cborHead(major: number, value: number): Uint8Array {
  const type = major << 5;
  if (value < 24) return Uint8Array.of(type | value);
  if (value < 0x100) return Uint8Array.of(type | 24, value);
  if (value < 0x10000) return Uint8Array.of(type | 25, value >> 8, value & 0xff);
  return Uint8Array.of(type | 26, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

/** Unsigned LEB128, as multiformats' varint. */
function varint(value: number): Uint8Array {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Uint8Array.from(out);
}
