import { decode as decodeCbor } from '@ipld/dag-cbor';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { CID } from 'multiformats/cid';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addBytes } from './add.js';
import { getBlock } from './blockstore.js';
import { blockLinks } from './dag.js';
import { startGateway, type RunningGateway } from './serve.js';

function deterministicBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 2654435761) >>> 24;
  return out;
}

/** Reads a CARv1: varint-prefixed DAG-CBOR header, then varint-prefixed CID + block sections. */
function readCar(bytes: Uint8Array): { roots: CID[]; blocks: Array<{ cid: CID; bytes: Uint8Array }> } {
  let offset = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = bytes[offset++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
      shift += 7;
    }
  };
  const headerLength = varint();
  const header = decodeCbor<{ roots: CID[]; version: number }>(bytes.subarray(offset, offset + headerLength));
  expect(header.version).toBe(1);
  offset += headerLength;
  const blocks: Array<{ cid: CID; bytes: Uint8Array }> = [];
  while (offset < bytes.byteLength) {
    const length = varint();
    const section = bytes.subarray(offset, offset + length);
    const [cid, rest] = CID.decodeFirst(section);
    blocks.push({ cid, bytes: rest });
    offset += length;
  }
  return { roots: header.roots.map((root) => CID.asCID(root) ?? root), blocks };
}

describe('gateway', () => {
  let blockstore: MemoryBlockstore;
  let gateway: RunningGateway;
  let file: CID;

  beforeEach(async () => {
    blockstore = new MemoryBlockstore();
    file = await addBytes(deterministicBytes(2 * 1024 * 1024 + 5), blockstore);
    gateway = await startGateway({ blockstore });
  });
  afterEach(async () => {
    await gateway.close();
  });

  it('listens on 127.0.0.1', () => {
    expect(gateway.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves a raw block for ?format=raw and for the Accept header', async () => {
    const expected = await getBlock(blockstore, file);
    for (const [url, init] of [
      [`${gateway.url}/ipfs/${file}?format=raw`, {}],
      [`${gateway.url}/ipfs/${file}`, { headers: { accept: 'application/vnd.ipld.raw' } }],
    ] as const) {
      const response = await fetch(url, init);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/vnd.ipld.raw');
      expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), Buffer.from(expected))).toBe(0);
    }
  });

  it('answers 404 with JSON for a missing block, 400 for a malformed CID, 406 with no format', async () => {
    const absent = await addBytes(new TextEncoder().encode('not here'), new MemoryBlockstore());
    const missing = await fetch(`${gateway.url}/ipfs/${absent}?format=raw`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await missing.json()).toMatchObject({ error: { code: 'block-missing' } });

    const malformed = await fetch(`${gateway.url}/ipfs/not-a-cid?format=raw`);
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'invalid-cid' } });

    const unsupported = await fetch(`${gateway.url}/ipfs/${file}?format=tar`);
    expect(unsupported.status).toBe(400);
    await unsupported.body?.cancel();

    const noFormat = await fetch(`${gateway.url}/ipfs/${file}`);
    expect(noFormat.status).toBe(406);
    await noFormat.body?.cancel();
  });

  it('serves the whole DAG as a CARv1 with ?format=car', async () => {
    const response = await fetch(`${gateway.url}/ipfs/${file}?format=car`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/vnd.ipld.car; version=1');
    const car = readCar(new Uint8Array(await response.arrayBuffer()));
    expect(car.roots.map(String)).toEqual([file.toString()]);
    expect(car.blocks.map((block) => block.cid.toString())).toEqual([
      file.toString(),
      ...blockLinks(file, await getBlock(blockstore, file)).map(String),
    ]);
    for (const block of car.blocks) {
      expect(Buffer.compare(Buffer.from(block.bytes), Buffer.from(await getBlock(blockstore, block.cid)))).toBe(0);
    }
  });
});
