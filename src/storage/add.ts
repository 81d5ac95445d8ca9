/**
 * Turning bytes and folders into UnixFS DAGs under the project's one profile (`profile.ts`), and the CIDs
 * that name them. A result folder (`stdout`, `stderr`, `exitCode`, `outputs/`) goes in with `addDirectory`.
 */
import { createReadStream, type Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { importByteStream, importBytes, importer, type ImportCandidate, type WritableStorage } from 'ipfs-unixfs-importer';
import type { CID } from 'multiformats/cid';
import { StorageError } from '../lib/errors.js';
import { importerOptions } from './profile.js';

/** Stores `bytes` as a UnixFS file and returns its CID. */
export async function addBytes(bytes: Uint8Array, blockstore: WritableStorage): Promise<CID> {
  const result = await importBytes(bytes, blockstore, importerOptions());
  return result.cid;
}

/**
 * Stores the file at `file` as a UnixFS file, read as a stream (a model's weights need not fit in memory),
 * and returns its CID: the one `addBytes` gives for the same bytes.
 */
export async function addFile(file: string, blockstore: WritableStorage): Promise<CID> {
  const result = await importByteStream(createReadStream(file), blockstore, importerOptions());
  return result.cid;
}

/** The CID `addBytes` would give, without storing anything. */
export async function cidOfBytes(bytes: Uint8Array): Promise<CID> {
  return addBytes(bytes, discardingStore);
}

/** The CID `addFile` would give, without storing anything. */
export async function cidOfFile(file: string): Promise<CID> {
  return addFile(file, discardingStore);
}

/** The CID `addDirectory` would give, without storing anything. */
export async function cidOfDirectory(dir: string): Promise<CID> {
  return addDirectory(dir, discardingStore);
}

const discardingStore: WritableStorage = { put: async (cid) => cid };

/**
 * Stores the folder `dir` and everything below it as a UnixFS directory, and returns the CID of `dir`
 * itself (not of a folder holding it). Entries go in sorted by the bytes of their names, empty folders are
 * kept, and no mtime or mode is recorded, so the same tree gives the same CID on any machine. Symbolic
 * links and special files are refused: a result is plain files and folders. A tree deeper than
 * MAX_DIRECTORY_DEPTH is refused (code 'directory-too-deep').
 */
export async function addDirectory(dir: string, blockstore: WritableStorage): Promise<CID> {
  const stats = await lstat(dir).catch((cause: unknown) => {
    throw new StorageError(`cannot add ${dir}: it does not exist or cannot be read`, {
      code: 'not-a-directory',
      details: { dir },
      cause,
    });
  });
  if (!stats.isDirectory()) {
    throw new StorageError(`cannot add ${dir}: it is not a directory`, { code: 'not-a-directory', details: { dir } });
  }

  // With `wrapWithDirectory`, paths are relative to `dir` and the last entry the importer yields is the
  // directory that holds them all, which is `dir` itself; an empty `dir` gives the empty directory.
  let root: CID | undefined;
  for await (const entry of importer(candidates(dir), blockstore, { ...importerOptions(), wrapWithDirectory: true })) {
    if (entry.path === '' || entry.path === undefined) root = entry.cid;
  }
  if (root === undefined) {
    throw new StorageError(`importing ${dir} gave no root directory`, { code: 'internal', details: { dir } });
  }
  return root;
}

/**
 * How many folders deep a stored directory may nest (a folder directly in the root is 1 deep). The UnixFS
 * importer builds directories by recursion and overflows the stack at a few thousand levels, and the host's
 * PATH_MAX ends reads by name sooner still; 256 is far beyond what a result needs, and the same everywhere.
 */
export const MAX_DIRECTORY_DEPTH = 256;

/** The import candidates under `base`, depth-first in name order, walked with a stack of folders, not recursion. */
async function* candidates(base: string): AsyncGenerator<ImportCandidate> {
  const stack = [{ relative: '', entries: await listSorted(base, ''), next: 0 }];
  while (stack.length > 0) {
    const folder = stack[stack.length - 1]!;
    const entry = folder.entries[folder.next++];
    if (!entry) {
      stack.pop();
      continue;
    }
    const path = folder.relative === '' ? entry.name : `${folder.relative}/${entry.name}`;
    const full = join(base, path);
    if (entry.isDirectory()) {
      if (stack.length > MAX_DIRECTORY_DEPTH) throw tooDeep(base);
      // Listed on its own so that a folder with nothing in it still appears in the DAG.
      yield { path };
      stack.push({ relative: path, entries: await listSorted(base, path), next: 0 });
    } else if (entry.isFile()) {
      yield { path, content: createReadStream(full) };
    } else {
      const kind = entry.isSymbolicLink() ? 'a symbolic link' : 'not a regular file';
      throw new StorageError(`cannot add ${full}: it is ${kind}; a result may hold only files and folders`, {
        code: 'unsupported-entry',
        details: { path: full },
      });
    }
  }
}

async function listSorted(base: string, relative: string): Promise<Dirent[]> {
  const entries = await readdir(relative === '' ? base : join(base, relative), { withFileTypes: true }).catch((error: unknown) => {
    throw (error as { code?: string }).code === 'ENAMETOOLONG' ? tooDeep(base) : error;
  });
  return entries.sort((a, b) => compareNames(a.name, b.name));
}

function tooDeep(dir: string): StorageError {
  return new StorageError(
    `cannot add ${dir}: its folders nest deeper than ${MAX_DIRECTORY_DEPTH} levels, the most a stored directory may have`,
    { code: 'directory-too-deep', details: { dir, maxDepth: MAX_DIRECTORY_DEPTH } },
  );
}

/** Orders names by their UTF-8 bytes, as dag-pb orders directory links. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
