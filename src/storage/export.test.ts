import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import * as dagPb from '@ipld/dag-pb';
import { UnixFS } from 'ipfs-unixfs';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import { afterEach, describe, expect, it } from 'vitest';
import { addBytes, addDirectory } from './add.js';
import { exportDirectory, isSafeEntryName } from './export.js';

const temporary: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lilypad-export-'));
  temporary.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(temporary.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** Stores a hand-built UnixFS directory node whose links carry whatever names we give them. */
async function hostileDirectory(blockstore: MemoryBlockstore, links: Array<{ name: string; cid: CID }>): Promise<CID> {
  const bytes = dagPb.encode(
    dagPb.prepare({
      Data: new UnixFS({ type: 'directory' }).marshal(),
      Links: links.map(({ name, cid }) => ({ Name: name, Hash: cid, Tsize: 1 })),
    }),
  );
  const cid = CID.createV1(dagPb.code, await sha256.digest(bytes));
  await blockstore.put(cid, bytes);
  return cid;
}

describe('exportDirectory', () => {
  it('writes files and folders, empty ones included', async () => {
    const source = await tempDir();
    await writeFile(join(source, 'stdout'), 'moo\n');
    await writeFile(join(source, 'stderr'), '');
    await writeFile(join(source, 'exitCode'), '0');
    await mkdir(join(source, 'outputs', 'empty'), { recursive: true });
    await writeFile(join(source, 'outputs', 'ü.txt'), 'unicode');
    const blockstore = new MemoryBlockstore();
    const cid = await addDirectory(source, blockstore);

    const destination = join(await tempDir(), 'result');
    await exportDirectory(cid, blockstore, destination);
    expect((await readdir(destination)).sort()).toEqual(['exitCode', 'outputs', 'stderr', 'stdout']);
    expect(await readFile(join(destination, 'stdout'), 'utf8')).toBe('moo\n');
    expect(await readFile(join(destination, 'stderr'), 'utf8')).toBe('');
    expect(await readFile(join(destination, 'outputs', 'ü.txt'), 'utf8')).toBe('unicode');
    expect((await stat(join(destination, 'outputs', 'empty'))).isDirectory()).toBe(true);
    expect(await readdir(join(destination, 'outputs', 'empty'))).toEqual([]);
    // Exported again, the tree gives the same CID.
    expect((await addDirectory(destination, new MemoryBlockstore())).toString()).toBe(cid.toString());
  });

  it.each(['..', '.', '', '../escape', 'a/b', '/etc', 'nul\0byte'])(
    'refuses an entry named %j and writes nothing outside the destination',
    async (name) => {
      const blockstore = new MemoryBlockstore();
      const file = await addBytes(new TextEncoder().encode('pwned'), blockstore);
      const inner = await hostileDirectory(blockstore, [{ name, cid: file }]);
      const root = await hostileDirectory(blockstore, [{ name: 'outputs', cid: inner }]);

      const parent = await tempDir();
      const destination = join(parent, 'result');
      await expect(exportDirectory(root, blockstore, destination)).rejects.toMatchObject({
        name: 'StorageError',
        code: 'unsafe-entry-name',
      });
      expect(await readdir(parent)).toEqual(['result']);
      expect(await readdir(join(destination, 'outputs'))).toEqual([]);
    },
  );

  it('does not overwrite an existing file', async () => {
    const blockstore = new MemoryBlockstore();
    const source = await tempDir();
    await writeFile(join(source, 'stdout'), 'new');
    const cid = await addDirectory(source, blockstore);
    const destination = await tempDir();
    await writeFile(join(destination, 'stdout'), 'old');
    await expect(exportDirectory(cid, blockstore, destination)).rejects.toMatchObject({ code: 'destination-exists' });
    expect(await readFile(join(destination, 'stdout'), 'utf8')).toBe('old');
  });

  it('says which block is missing, and refuses a file as the root', async () => {
    const blockstore = new MemoryBlockstore();
    const file = await addBytes(new TextEncoder().encode('x'), blockstore);
    await expect(exportDirectory(file, blockstore, await tempDir())).rejects.toMatchObject({ code: 'not-a-directory' });
    const absent = CID.createV1(dagPb.code, await sha256.digest(new Uint8Array([1])));
    const error = await exportDirectory(absent, new MemoryBlockstore(), await tempDir()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'block-missing' });
    expect((error as Error).message).toContain(absent.toString());
  });

  it('isSafeEntryName', () => {
    expect(isSafeEntryName('stdout')).toBe(true);
    expect(isSafeEntryName('..a')).toBe(true);
    expect(isSafeEntryName('..')).toBe(false);
    expect(isSafeEntryName('a/..')).toBe(false);
  });
});
