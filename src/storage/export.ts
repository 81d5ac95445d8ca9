/**
 * Writing a UnixFS directory from a blockstore out to a folder on disk. The DAG may come from anyone, so
 * every entry name is checked before it becomes a path: nothing is ever written outside the destination.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { exporter, type ReadableStorage, type UnixFSEntry } from 'ipfs-unixfs-exporter';
import type { CID } from 'multiformats/cid';
import { StorageError } from '../lib/errors.js';
import { MAX_DIRECTORY_DEPTH } from './add.js';

export interface ExportDirectoryOptions {
  signal?: AbortSignal;
}

/**
 * Writes the directory `cid` into `destinationDir` (created if missing): its entries become the
 * destination's entries. Files that already exist are not overwritten (code 'destination-exists'). Entry
 * names that are empty, `.`, `..`, or contain `/` or NUL are refused (code 'unsafe-entry-name'), as are
 * symbolic links and non-UnixFS nodes (code 'unsupported-entry'). Every block must be in `blockstore`
 * (fetch it first with `fetchDag`). A DAG nesting deeper than MAX_DIRECTORY_DEPTH is refused (code
 * 'directory-too-deep').
 */
export async function exportDirectory(
  cid: CID,
  blockstore: ReadableStorage,
  destinationDir: string,
  options: ExportDirectoryOptions = {},
): Promise<void> {
  const root = await load(cid, '', blockstore, options);
  if (root.type !== 'directory') {
    throw new StorageError(`${cid} is a ${root.type}, not a directory; nothing was written to ${destinationDir}`, {
      code: 'not-a-directory',
      details: { cid: cid.toString() },
    });
  }
  const destination = resolve(destinationDir);
  await mkdir(destination, { recursive: true });
  // A stack of folders still to write, not recursion: a hostile DAG can nest as deep as it likes.
  const pending: Array<{ directory: Extract<UnixFSEntry, { type: 'directory' }>; target: string; relative: string; depth: number }> = [
    { directory: root, target: destination, relative: '', depth: 0 },
  ];
  while (pending.length > 0) {
    const { directory, target, relative, depth } = pending.pop()!;
    for (const child of await writeEntries(directory, destination, target, relative, blockstore, options)) {
      if (depth + 1 > MAX_DIRECTORY_DEPTH) {
        throw new StorageError(
          `refusing to export ${cid}: its folders nest deeper than ${MAX_DIRECTORY_DEPTH} levels, the most a stored directory may have`,
          { code: 'directory-too-deep', details: { cid: cid.toString(), maxDepth: MAX_DIRECTORY_DEPTH } },
        );
      }
      pending.push({ ...child, depth: depth + 1 });
    }
  }
}

/** Writes the files of one folder and creates its sub-folders; returns the sub-folders to fill next. */
async function writeEntries(
  directory: Extract<UnixFSEntry, { type: 'directory' }>,
  destination: string,
  target: string,
  relative: string,
  blockstore: ReadableStorage,
  options: ExportDirectoryOptions,
): Promise<Array<{ directory: Extract<UnixFSEntry, { type: 'directory' }>; target: string; relative: string }>> {
  const folders: Array<{ directory: Extract<UnixFSEntry, { type: 'directory' }>; target: string; relative: string }> = [];
  for await (const link of directory.entries({ signal: options.signal })) {
    options.signal?.throwIfAborted();
    assertSafeName(link.name, relative, directory.cid);
    const childRelative = relative === '' ? link.name : `${relative}/${link.name}`;
    const childTarget = join(target, link.name);
    // Belt and braces: the name check above already makes this impossible.
    if (!childTarget.startsWith(destination + sep)) {
      throw unsafeName(link.name, relative, directory.cid);
    }
    const child = await load(link.cid, childRelative, blockstore, options);
    if (child.type === 'directory') {
      await mkdir(childTarget).catch((cause: unknown) => {
        throw existsOr(cause, childTarget);
      });
      folders.push({ directory: child, target: childTarget, relative: childRelative });
    } else if (isFileEntry(child)) {
      await writeFileEntry(child, childTarget, childRelative, options);
    } else {
      const kind = entryKind(child);
      throw new StorageError(
        `entry ${childRelative} of ${directory.cid} is a ${kind}; only files and folders can be exported`,
        { code: 'unsupported-entry', details: { cid: link.cid.toString(), path: childRelative, kind } },
      );
    }
  }
  return folders;
}

/**
 * Writes the file `cid` (a UnixFS file or a raw block) to `destinationFile`, which must not exist yet (code
 * 'destination-exists'); anything else is refused (code 'not-a-file'). Every block must be in `blockstore`.
 */
export async function exportFile(
  cid: CID,
  blockstore: ReadableStorage,
  destinationFile: string,
  options: ExportDirectoryOptions = {},
): Promise<void> {
  const entry = await load(cid, '', blockstore, options);
  if (!isFileEntry(entry)) {
    throw new StorageError(`${cid} is a ${entry.type}, not a file; nothing was written to ${destinationFile}`, {
      code: 'not-a-file',
      details: { cid: cid.toString() },
    });
  }
  await writeFileEntry(entry, destinationFile, cid.toString(), options);
}

/** Whether the entry is a file's bytes (a UnixFS file, a raw block, an identity CID), what can be written as a file. */
export function isFileEntry(entry: UnixFSEntry): entry is Extract<UnixFSEntry, { type: 'file' | 'raw' | 'identity' }> {
  return entry.type === 'raw' || entry.type === 'identity' || (entry.type === 'file' && (entry.unixfs.type === 'file' || entry.unixfs.type === 'raw'));
}

/** What an entry is, for a message: a UnixFS file's own type (a symlink, say), or the entry's. */
export function entryKind(entry: UnixFSEntry): string {
  return entry.type === 'file' ? entry.unixfs.type : entry.type;
}

async function writeFileEntry(entry: Extract<UnixFSEntry, { type: 'file' | 'raw' | 'identity' }>, target: string, relative: string, options: ExportDirectoryOptions): Promise<void> {
  const content = entry.content({ signal: options.signal });
  // 'wx': never follow or replace what is already there.
  await pipeline(content, createWriteStream(target, { flags: 'wx' }), { signal: options.signal }).catch((cause: unknown) => {
    if ((cause as { name?: string } | null)?.name === 'NotFoundError') {
      throw new StorageError(`a block of ${relative} (${entry.cid}) is not in the blockstore; fetch the DAG with fetchDag first`, {
        code: 'block-missing',
        details: { cid: entry.cid.toString(), path: relative },
        cause,
      });
    }
    throw existsOr(cause, target);
  });
}

async function load(
  cid: CID,
  path: string,
  blockstore: ReadableStorage,
  options: ExportDirectoryOptions,
): Promise<UnixFSEntry> {
  try {
    return await exporter(cid, blockstore, { signal: options.signal });
  } catch (cause) {
    if (options.signal?.aborted) throw cause;
    const name = (cause as { name?: string } | null)?.name;
    if (name === 'NotFoundError') {
      throw new StorageError(
        `block ${cid}${path === '' ? '' : ` (${path})`} is not in the blockstore; fetch the DAG with fetchDag first`,
        { code: 'block-missing', details: { cid: cid.toString(), path }, cause },
      );
    }
    throw new StorageError(`cannot read ${cid}${path === '' ? '' : ` (${path})`} as UnixFS: ${errorMessage(cause)}`, {
      code: 'unsupported-entry',
      details: { cid: cid.toString(), path },
      cause,
    });
  }
}

/** True when `name` can be used as one path segment under a folder without leaving it. */
export function isSafeEntryName(name: string): boolean {
  if (name === '' || name === '.' || name === '..') return false;
  if (name.includes('/') || name.includes('\0')) return false;
  if (process.platform === 'win32' && (name.includes('\\') || name.includes(':'))) return false;
  return true;
}

function assertSafeName(name: string, parent: string, directory: CID): void {
  if (!isSafeEntryName(name)) throw unsafeName(name, parent, directory);
}

function unsafeName(name: string, parent: string, directory: CID): StorageError {
  return new StorageError(
    `refusing to export ${directory}: entry ${JSON.stringify(name)} in ${parent === '' ? 'the root' : parent} is not a safe file name; the DAG may be hostile`,
    { code: 'unsafe-entry-name', details: { cid: directory.toString(), name, parent } },
  );
}

function existsOr(cause: unknown, path: string): unknown {
  if ((cause as { code?: string } | null)?.code === 'EEXIST') {
    return new StorageError(`${path} already exists; export into an empty folder`, {
      code: 'destination-exists',
      details: { path },
      cause,
    });
  }
  return cause;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
