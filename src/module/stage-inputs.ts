/**
 * Laying a job's inputs out as one folder, the job's read-only `/inputs`: each input fetched by CID (every
 * block checked), walked to its path inside the DAG, refused past a size limit, and written at its `Path`
 * (a file input as a file, a folder input as a folder). The messages of its errors are what a failed job's
 * result records, so they name the input and its CID and nothing that differs between machines (no gateway,
 * no timing): a mediator that cannot fetch the input either writes the same result.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { exporter, type UnixFSEntry } from 'ipfs-unixfs-exporter';
import type { CID } from 'multiformats/cid';
import type { Blockstore } from 'interface-blockstore';
import { LilypadError, ModuleError, StorageError } from '../lib/errors.js';
import { entryKind, exportDirectory, exportFile, isFileEntry } from '../storage/export.js';
import type { InputStore } from '../storage/block-source.js';
import type { JobInput } from './job-inputs.js';

/**
 * How long an input may go without a block arriving before the job fails for want of it: a CID nobody has
 * fails this soon, while a large input that keeps arriving is not cut off.
 */
export const DEFAULT_INPUT_TIMEOUT_MS = 60_000;
/** The most bytes of blocks one input's DAG may hold. */
export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024 * 1024;

export interface StageInputsOptions {
  signal?: AbortSignal;
  /** Most time without a block arriving, per input; default DEFAULT_INPUT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Per input, in bytes of its DAG's blocks; default DEFAULT_MAX_INPUT_BYTES. Part of the result: keep it the same everywhere. */
  maxBytes?: number;
  /** IPFS peers that hold the inputs (see SourceOptions.peers). */
  peers?: readonly string[];
}

/**
 * Fills `inputsDir` (emptied first) with `inputs`. Throws a ModuleError whose code is `input-unavailable`,
 * `input-too-large`, `input-not-found` (no such path inside the CID) or `input-unusable` (not files and
 * folders, or `/inputs` itself given a file), or the signal's reason when aborted.
 */
export async function stageInputs(inputs: readonly JobInput[], store: InputStore, inputsDir: string, options: StageInputsOptions = {}): Promise<void> {
  await rm(inputsDir, { recursive: true, force: true });
  await mkdir(inputsDir, { recursive: true });
  for (const input of inputs) await stageInput(input, store, inputsDir, options);
}

async function stageInput(input: JobInput, store: InputStore, inputsDir: string, options: StageInputsOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_INPUT_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  const stalled = new AbortController();
  let timer = setTimeout(() => stalled.abort(), timeoutMs);
  const arrived = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stalled.abort(), timeoutMs);
  };
  const tooLarge = new AbortController();
  const signal = AbortSignal.any([stalled.signal, tooLarge.signal, ...(options.signal ? [options.signal] : [])]);
  const named = `input ${input.label} (${[input.cid.toString(), ...input.within].join('/')})`;
  const fail = (code: string, message: string, cause?: unknown) => new ModuleError(`${named} ${message}`, { code, cause, details: { timeoutMs } });
  const sizeError = () => fail('input-too-large', `is larger than ${maxBytes} bytes, the most an input may be here`);
  try {
    const entry = await walk(input, store, { signal, peers: options.peers }, arrived);
    const target = path.join(inputsDir, ...input.segments);
    const isFile = isFileEntry(entry);
    if (isFile) {
      if (input.segments.length === 0) throw fail('input-unusable', `is a file; only a folder can be ${input.path} itself`);
      // A file says how large it is in its first block: refused before anything else is fetched.
      if (entry.size > BigInt(maxBytes)) throw sizeError();
    } else if (entry.type !== 'directory') {
      throw fail('input-unusable', `is a ${entryKind(entry)}; only files and folders can be inputs`);
    }
    await store.source.fetchDag(entry.cid, {
      signal,
      peers: options.peers,
      onBytes: (bytes) => {
        arrived();
        if (bytes > maxBytes) tooLarge.abort();
      },
    });
    // Everything has arrived: writing it out, however long that takes, is no silence of the source.
    clearTimeout(timer);
    await mkdir(path.dirname(target), { recursive: true });
    if (isFile) await exportFile(entry.cid, store.blockstore, target, { signal });
    else await exportDirectory(entry.cid, store.blockstore, target, { signal });
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    if (tooLarge.signal.aborted) throw sizeError();
    if (error instanceof ModuleError) throw error;
    if (stalled.signal.aborted) throw fail('input-unavailable', 'could not be fetched: no source served it', error);
    if (error instanceof StorageError && ['unsafe-entry-name', 'unsupported-entry', 'directory-too-deep', 'not-a-file', 'not-a-directory', 'unsupported-codec', 'unsupported-hash'].includes(error.code)) {
      throw fail('input-unusable', `cannot be shown as files (${error.code})`, error);
    }
    if (error instanceof LilypadError) throw fail('input-unavailable', 'could not be fetched: no source served it', error);
    if ((error as { name?: string }).name === 'NotFoundError') throw fail('input-not-found', 'does not exist: its DAG has no such path', error);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** The entry at the input's path inside its DAG, fetching only the blocks on the way there. */
async function walk(input: JobInput, store: InputStore, { signal, peers }: { signal: AbortSignal; peers?: readonly string[] }, arrived: () => void): Promise<UnixFSEntry> {
  const { source, blockstore } = store;
  const onTheWay: Pick<Blockstore, 'get'> = {
    async *get(cid: CID) {
      if (await blockstore.has(cid, { signal })) yield* blockstore.get(cid, { signal });
      else {
        const block = await source.fetchBlock(cid, { signal, peers });
        arrived();
        yield block;
      }
    },
  };
  const at = input.within.length === 0 ? input.cid : `${input.cid.toString()}/${input.within.join('/')}`;
  return exporter(at, onTheWay, { signal });
}
