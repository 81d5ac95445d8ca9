/**
 * Data for people with only a browser or an API key: files sent to the studio are added to its blockstore,
 * which the studio's IPFS node serves to providers like any `lilypad add` data, and recorded with their owner.
 * One file becomes a UnixFS file (the CID `lilypad add FILE` gives it); several become a folder of them (the
 * CID `lilypad add FOLDER` gives that folder). The bytes go to a folder on disk first, and into the blockstore
 * only once all of them arrived, so a refused or broken upload stores no block and records nothing.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from 'hono';
import { UserInputError } from '../lib/errors.js';
import { addDirectory, addFile, isSafeEntryName, type Blockstore } from '../storage/index.js';
import type { StudioStore, Upload } from './store.js';

/** The default for `--max-upload-mb`: an upload's bytes, all its files together (the rest of the studio's requests stay at 4 MiB). */
export const DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024;
/** The most files one upload may make a folder of. */
export const MAX_UPLOAD_FILES = 1000;

/** A file as it arrives: its name and its bytes, read once. */
export interface IncomingFile {
  name: string;
  content: ReadableStream<Uint8Array> | null;
}

export interface StudioUploads {
  /** Adds `files` to the studio's blockstore (several as a folder of them) and records the result as `userId`'s. */
  add(userId: number, files: IncomingFile[]): Promise<Upload>;
}

/** Uploads into `blockstore`, staged in `<dataDir>/uploading` (what a stopped studio left there is removed: no upload of it goes on). */
export async function createUploads(components: { store: StudioStore; blockstore: Blockstore; dataDir: string }): Promise<StudioUploads> {
  const { store, blockstore } = components;
  const stagingDir = path.join(components.dataDir, 'uploading');
  await rm(stagingDir, { recursive: true, force: true });
  return {
    async add(userId, files) {
      checkNames(files);
      const staging = path.join(stagingDir, randomUUID());
      await mkdir(staging, { recursive: true });
      try {
        let size = 0;
        for (const file of files) {
          const target = path.join(staging, file.name);
          await pipeline(file.content ? Readable.fromWeb(file.content as WebReadableStream<Uint8Array>) : Readable.from([]), createWriteStream(target, { flags: 'wx' })).catch((cause: unknown) => {
            // A file system error (a full disk) is the studio's; the rest is the request's body ending early.
            if ((cause as NodeJS.ErrnoException).syscall) throw cause;
            throw new UserInputError(`the upload of ${file.name} broke off before all its bytes arrived: nothing was kept; send it again`, { code: 'upload-broken', cause });
          });
          size += (await stat(target)).size;
        }
        const single = files.length === 1;
        const cid = single ? await addFile(path.join(staging, files[0]!.name), blockstore) : await addDirectory(staging, blockstore);
        return store.addUpload(userId, { cid: cid.toString(), name: single ? files[0]!.name : folderName(files), size });
      } finally {
        await rm(staging, { recursive: true, force: true });
      }
    },
  };
}

/** What a folder of files is listed as: "2 files: a.txt, b.txt", the first few named. */
function folderName(files: IncomingFile[]): string {
  const names = files.slice(0, 3).map((file) => file.name).join(', ');
  return `${files.length} files: ${names}${files.length > 3 ? ', …' : ''}`;
}

/** Names that are one plain file name each, none twice: they become the folder's entries. */
function checkNames(files: IncomingFile[]): void {
  if (files.length === 0) throw new UserInputError('the upload holds no file: send one file, or several to make a folder of them', { code: 'upload-empty' });
  if (files.length > MAX_UPLOAD_FILES) throw new UserInputError(`the upload holds ${files.length} files; one upload may hold at most ${MAX_UPLOAD_FILES}: send a few folders' worth at a time`, { code: 'upload-invalid' });
  const seen = new Set<string>();
  for (const { name } of files) {
    if (!isSafeEntryName(name) || name.includes('\\') || Buffer.byteLength(name) > 255) {
      throw new UserInputError(`${JSON.stringify(name)} is not a file name the studio can keep: give a plain name (no / or \\, not . or .., at most 255 bytes)`, { code: 'upload-invalid' });
    }
    if (seen.has(name)) throw new UserInputError(`two files are named ${JSON.stringify(name)}: the files of one upload become a folder, so each needs its own name`, { code: 'upload-invalid' });
    seen.add(name);
  }
}

/**
 * The files of an upload request: a multipart form's files in `field` (a browser sends a file picker's empty
 * choice as a file with no name: it is no file), or else the raw body as one file named by `?name=`.
 */
export async function filesOfRequest(c: Context, field: string): Promise<IncomingFile[]> {
  if ((c.req.header('content-type') ?? '').toLowerCase().startsWith('multipart/form-data')) return filesOfForm(await c.req.parseBody({ all: true }), field);
  return [{ name: c.req.query('name') ?? 'upload', content: c.req.raw.body }];
}

/** The files a parsed multipart form holds in `field`. */
export function filesOfForm(form: Record<string, unknown>, field: string): IncomingFile[] {
  const values = ([] as unknown[]).concat(form[field] ?? []);
  return values.filter((value): value is File => value instanceof File && value.name !== '').map((file) => ({ name: file.name, content: file.stream() }));
}
