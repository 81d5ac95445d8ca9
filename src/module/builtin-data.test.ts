import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidOfBytes, cidOfFile, exportFile } from '../storage/index.js';
import { localSource } from './builtin-data.js';

let dir: string;
let weights: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-builtin-data-'));
  await mkdir(path.join(dir, 'models', 'llm'), { recursive: true });
  weights = path.join(dir, 'models', 'llm', 'model.bin');
  // Larger than one chunk, so the file is a DAG and not one block.
  await writeFile(weights, Uint8Array.from({ length: 3 * 1024 * 1024 }, (_, i) => (i * 31) % 256));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('data that ships with lilypad', () => {
  it('serves a shipped file by its CID: every block lands in the blockstore, byte for byte', async () => {
    const blockstore = new MemoryBlockstore();
    const cid = await cidOfFile(weights);
    let bytes = 0;
    await localSource(blockstore, path.join(dir, 'models')).fetchDag(cid, { onBytes: (seen) => (bytes = seen) });
    expect(bytes).toBe(3 * 1024 * 1024);
    const out = path.join(dir, 'out.bin');
    await exportFile(cid, blockstore, out);
    expect((await cidOfFile(out)).equals(cid)).toBe(true);
  });

  it('answers block-missing for a CID neither shipped nor here, so the next source is asked', async () => {
    const other = await cidOfBytes(new TextEncoder().encode('not shipped'));
    const source = localSource(new MemoryBlockstore(), path.join(dir, 'models'));
    await expect(source.fetchBlock(other, {})).rejects.toMatchObject({ code: 'block-missing' });
    await expect(source.fetchDag(other, {})).rejects.toMatchObject({ code: 'block-missing' });
  });
});
