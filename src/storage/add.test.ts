import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { exporter } from 'ipfs-unixfs-exporter';
import { importBytes, importer, type ImportCandidate } from 'ipfs-unixfs-importer';
import * as dagPb from '@ipld/dag-pb';
import * as raw from 'multiformats/codecs/raw';
import { afterEach, describe, expect, it } from 'vitest';
import { addBytes, addDirectory, cidOfBytes, cidOfDirectory, compareNames } from './add.js';
import { exportDirectory } from './export.js';
import { getBlock } from './blockstore.js';
import { PROFILE, PROFILE_NAME } from './profile.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Deterministic pseudo-random bytes (xorshift32), the same on every machine. */
function deterministicBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const temporary: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lilypad-storage-'));
  temporary.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('known CIDs (shared/fixtures/known-cids.md)', () => {
  it('hello world, CIDv1 raw leaves', async () => {
    const blockstore = new MemoryBlockstore();
    const expected = 'bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e';
    expect((await cidOfBytes(utf8('hello world'))).toString()).toBe(expected);
    const cid = await addBytes(utf8('hello world'), blockstore);
    expect(cid.toString()).toBe(expected);
    expect(new TextDecoder().decode(await getBlock(blockstore, cid))).toBe('hello world');
  });

  it('empty file, CIDv1 raw leaves', async () => {
    const expected = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    expect((await cidOfBytes(new Uint8Array())).toString()).toBe(expected);
    expect((await addBytes(new Uint8Array(), new MemoryBlockstore())).toString()).toBe(expected);
  });

  it('empty directory, CIDv1 (and the same block as the CIDv0 row)', async () => {
    const dir = await tempDir();
    const cid = await addDirectory(dir, new MemoryBlockstore());
    expect(cid.toString()).toBe('bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354');
    expect((await cidOfDirectory(dir)).toString()).toBe(cid.toString());
    // Same bytes, same multihash: only the CID's version differs.
    expect(cid.toV0().toString()).toBe('QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn');
  });

  it('hello world\\n under Kubo’s old default gives the CIDv0 row, and another CID under ours', async () => {
    const old = await importBytes(utf8('hello world\n'), new MemoryBlockstore(), { profile: 'unixfs-v0-2015' });
    expect(old.cid.toString()).toBe('QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o');
    expect((await cidOfBytes(utf8('hello world\n'))).toString()).not.toBe(old.cid.toString());
  });
});

describe('files', () => {
  it('a 3 MiB file is three 1 MiB raw leaves under one dag-pb root, with a stable CID', async () => {
    const bytes = deterministicBytes(3 * 1024 * 1024);
    const blockstore = new MemoryBlockstore();
    const cid = await addBytes(bytes, blockstore);
    expect(cid.version).toBe(1);
    expect(cid.code).toBe(dagPb.code);
    expect(cid.toString()).toBe(STABLE_3_MIB_CID);
    expect((await cidOfBytes(bytes)).toString()).toBe(cid.toString());

    const root = dagPb.decode(await getBlock(blockstore, cid));
    expect(root.Links).toHaveLength(3);
    for (const link of root.Links) {
      expect(link.Hash.code).toBe(raw.code);
      expect((await getBlock(blockstore, link.Hash)).byteLength).toBe(PROFILE.chunkSize);
    }

    const entry = await exporter(cid, blockstore);
    const chunks: Uint8Array[] = [];
    if (entry.type !== 'file') throw new Error(`expected a file, got ${entry.type}`);
    for await (const chunk of entry.content()) chunks.push(chunk);
    expect(Buffer.compare(Buffer.concat(chunks), Buffer.from(bytes))).toBe(0);
  });

  it('agrees with the importer’s own reading of the profile name', async () => {
    const bytes = deterministicBytes(3 * 1024 * 1024 + 17, 7);
    const theirs = await importBytes(bytes, new MemoryBlockstore(), { profile: PROFILE_NAME });
    expect((await cidOfBytes(bytes)).toString()).toBe(theirs.cid.toString());
  });
});

describe('addDirectory', () => {
  it('keeps empty folders and gives the same CID whatever order files were written in', async () => {
    const first = await tempDir();
    const second = await tempDir();
    const files: Array<[string, string]> = [
      ['stdout', 'moo\n'],
      ['stderr', ''],
      ['exitCode', '0'],
      ['outputs/b.txt', 'b'],
      ['outputs/a.txt', 'a'],
      ['outputs/nested/deeper/z', 'z'],
    ];
    for (const [dir, order] of [
      [first, files],
      [second, [...files].reverse()],
    ] as const) {
      for (const [path, content] of order) {
        await mkdir(join(dir, path, '..'), { recursive: true });
        await writeFile(join(dir, path), content);
      }
      await mkdir(join(dir, 'outputs', 'empty'), { recursive: true });
    }
    const blockstore = new MemoryBlockstore();
    const cid = await addDirectory(first, blockstore);
    expect((await addDirectory(second, new MemoryBlockstore())).toString()).toBe(cid.toString());

    const root = await exporter(cid, blockstore);
    if (root.type !== 'directory') throw new Error('expected a directory');
    const names: string[] = [];
    for await (const entry of root.entries()) names.push(entry.name);
    expect(names).toEqual(['exitCode', 'outputs', 'stderr', 'stdout']);

    const empty = await exporter(`${cid}/outputs/empty`, blockstore);
    expect(empty.type).toBe('directory');
    expect(empty.cid.toString()).toBe('bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354');

    // Without the empty folder, the CID changes: it is part of the result.
    await rm(join(first, 'outputs', 'empty'), { recursive: true });
    expect((await cidOfDirectory(first)).toString()).not.toBe(cid.toString());
  });

  it('shards a directory past 256 KiB into a HAMT, as the importer’s profile does', async () => {
    const dir = await tempDir();
    // Long names fill the 256 KiB block with fewer files (about 145 bytes a link).
    const names = Array.from({ length: 2000 }, (_, i) => `${String(i).padStart(5, '0')}-${'x'.repeat(100)}.txt`);
    await Promise.all(names.map((name) => writeFile(join(dir, name), name)));
    const blockstore = new MemoryBlockstore();
    const cid = await addDirectory(dir, blockstore);
    const root = await exporter(cid, blockstore);
    if (root.type !== 'directory') throw new Error('expected a directory');
    expect(root.unixfs.type).toBe('hamt-sharded-directory');

    const candidates: ImportCandidate[] = names.map((name) => ({ path: name, content: utf8(name) }));
    let theirs: string | undefined;
    for await (const entry of importer(candidates, new MemoryBlockstore(), {
      profile: PROFILE_NAME,
      wrapWithDirectory: true,
    })) {
      if (entry.path === '') theirs = entry.cid.toString();
    }
    expect(cid.toString()).toBe(theirs);

    const out = join(await tempDir(), 'out');
    await exportDirectory(cid, blockstore, out);
    expect((await readdir(out)).sort(compareNames)).toEqual(names);
    expect(await readFile(join(out, names[1234]), 'utf8')).toBe(names[1234]);
  });

  it('refuses a symbolic link and something that is not a folder', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'target'), 'x');
    const { symlink } = await import('node:fs/promises');
    await symlink(join(dir, 'target'), join(dir, 'link'));
    await expect(addDirectory(dir, new MemoryBlockstore())).rejects.toMatchObject({ code: 'unsupported-entry' });
    await expect(addDirectory(join(dir, 'target'), new MemoryBlockstore())).rejects.toMatchObject({
      code: 'not-a-directory',
    });
  });
});

// Pinned: if this changes, every result CID ever published changes with it.
const STABLE_3_MIB_CID = 'bafybeihb2y2jotibcw5cs52ifcbxufu4gjmbqjopxpwxy6kfmiawmgbdbm';
