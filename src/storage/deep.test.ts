/**
 * Result folders of any depth: a stored directory may nest MAX_DIRECTORY_DEPTH folders, which go in and
 * come out again; a deeper one (a real 5,000-deep folder, made the way a job would, one `mkdir; cd` at a
 * time) is refused with a one-line error instead of overflowing the stack, and so is a deeper DAG on export.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlockstore } from 'blockstore-core/memory';
import { importer, type ImportCandidate } from 'ipfs-unixfs-importer';
import { afterAll, expect, test } from 'vitest';

import { StorageError } from '../lib/errors.js';
import { addDirectory, MAX_DIRECTORY_DEPTH } from './add.js';
import { exportDirectory } from './export.js';
import { importerOptions } from './profile.js';

const scratch = mkdtempSync(join(tmpdir(), 'lilypad-deep-'));
// rm(1) removes by descriptor, so it copes with paths longer than PATH_MAX, which Node's rm does not.
afterAll(() => execFileSync('rm', ['-rf', scratch]), 120_000);

/** `depth` folders named d inside `dir`, made relative to each other as a job would, past PATH_MAX if need be. */
function nest(dir: string, depth: number): string {
  const script = `const fs = require('node:fs'); fs.mkdirSync(process.argv[1], { recursive: true }); process.chdir(process.argv[1]);
    for (let i = 0; i < ${depth}; i++) { fs.mkdirSync('d'); process.chdir('d'); } fs.writeFileSync('leaf.txt', 'leaf\\n');`;
  execFileSync(process.execPath, ['-e', script, dir]);
  return dir;
}

test(`a folder ${MAX_DIRECTORY_DEPTH} levels deep is stored and exported back whole`, async () => {
  const blockstore = new MemoryBlockstore();
  const cid = await addDirectory(nest(join(scratch, 'fits'), MAX_DIRECTORY_DEPTH), blockstore);
  const out = join(scratch, 'fits-out');
  await exportDirectory(cid, blockstore, out);
  expect(existsSync(join(out, ...Array(MAX_DIRECTORY_DEPTH).fill('d'), 'leaf.txt'))).toBe(true);
});

test('a real 5,000-deep folder is refused with a one-line error, not a stack overflow', async () => {
  const dir = nest(join(scratch, 'deep'), 5_000);
  const error = await addDirectory(dir, new MemoryBlockstore()).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect((error as StorageError).code).toBe('directory-too-deep');
  expect((error as StorageError).message).toBe(
    `cannot add ${dir}: its folders nest deeper than ${MAX_DIRECTORY_DEPTH} levels, the most a stored directory may have`,
  );
}, 120_000);

test('a DAG nesting deeper than the limit is refused on export', async () => {
  const blockstore = new MemoryBlockstore();
  async function* deep(): AsyncGenerator<ImportCandidate> {
    let path = '';
    for (let level = 0; level <= MAX_DIRECTORY_DEPTH; level++) {
      path = path ? `${path}/d` : 'd';
      yield { path };
    }
  }
  let root;
  for await (const entry of importer(deep(), blockstore, { ...importerOptions(), wrapWithDirectory: true })) if (entry.path === '') root = entry.cid;
  const error = await exportDirectory(root!, blockstore, join(scratch, 'deep-out')).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect((error as StorageError).code).toBe('directory-too-deep');
  expect((error as StorageError).message).toBe(
    `refusing to export ${root}: its folders nest deeper than ${MAX_DIRECTORY_DEPTH} levels, the most a stored directory may have`,
  );
});
