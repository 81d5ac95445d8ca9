/**
 * Local data for jobs, kept in the job creator's lasting blockstore (`blocksDir`): `lilypad add PATH` adds a
 * file or folder and prints its CID; `-i NAME=@PATH` of `lilypad run` adds one input the same way (here is
 * the one place where a local path becomes a CID, so the bridge, which reads the same `KEY=VALUE` inputs,
 * never reads local files); `lilypad get CID` writes any CID out, every block checked.
 */
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { LilypadError, StorageError, UserInputError } from '../lib/errors.js';
import { blocksDir, defaultResultsDir } from '../lib/config.js';
import { peersThenGateways } from '../storage/block-source.js';
import { startJobCreatorNode } from '../job-creator/data-node.js';
import { localSource } from '../module/builtin-data.js';
import { addDirectory, addFile, cidOfDirectory, cidOfFile, closeBlockstore, exportDirectory, exportFile, openBlockstore, type Blockstore } from '../storage/index.js';

export interface AddedPath {
  cid: string;
  path: string;
  /** The bytes of the files added (a folder's files together). */
  bytes: number;
}

/** Adds a file or folder to `blockstore` under the one profile. `named` is how an error names it (`-i Data=@./x`). */
export async function addPath(target: string, blockstore: Blockstore, named: string = target): Promise<AddedPath> {
  const full = path.resolve(target);
  const stats = await stat(full).catch(() => undefined);
  if (!stats) throw new UserInputError(`${named}: ${full} does not exist`, { code: 'path-missing', details: { path: full } });
  if (!stats.isFile() && !stats.isDirectory()) {
    throw new UserInputError(`${named}: ${full} is not a file or a folder`, { code: 'path-unsupported', details: { path: full } });
  }
  // Raw leaves hold exactly the files' bytes (the profile's raw leaves), so counting them needs no second walk.
  let bytes = 0;
  const counting = {
    put: async (cid: CID, block: Uint8Array, options?: { signal?: AbortSignal }) => {
      if (cid.code === raw.code) bytes += block.byteLength;
      return await blockstore.put(cid, block, options);
    },
  };
  const cid = stats.isDirectory() ? await addDirectory(full, counting) : await addFile(full, counting);
  return { cid: cid.toString(), path: full, bytes };
}

/**
 * `-i NAME=@PATH` names a local file or folder; `@@` stands for a value that really starts with `@`
 * (`-i Handle=@@lilypad` gives `@lilypad`). Returns the inputs with `@@` undone and the local paths by input
 * name, each checked to exist now, before any network is started.
 */
export async function findLocalInputs(inputs: Record<string, string>): Promise<{ inputs: Record<string, string>; paths: Map<string, string> }> {
  const out: Record<string, string> = {};
  const paths = new Map<string, string>();
  for (const [name, value] of Object.entries(inputs)) {
    if (value.startsWith('@@')) {
      out[name] = value.slice(1);
    } else if (value.startsWith('@')) {
      const local = value.slice(1);
      if (local === '' || !(await stat(local).catch(() => undefined))) {
        throw new UserInputError(`-i ${name}=${value}: no file or folder ${local === '' ? 'named' : path.resolve(local)} (@PATH names local data; @@ for a value starting with @)`, {
          code: 'path-missing',
          details: { input: name, path: local },
        });
      }
      paths.set(name, local);
      out[name] = value;
    } else {
      out[name] = value;
    }
  }
  return { inputs: out, paths };
}

/** Adds each local input to `blockstore` and gives it its CID as its value. */
export async function addLocalInputs(inputs: Record<string, string>, paths: Map<string, string>, blockstore: Blockstore): Promise<Record<string, string>> {
  const out = { ...inputs };
  for (const [name, local] of paths) out[name] = (await addPath(local, blockstore, `-i ${name}=@${local}`)).cid;
  return out;
}

/** Parses a CID, or gives undefined for anything else (a job id is 0x-hex, which no CID is). */
export function parseCid(text: string): CID | undefined {
  if (/^0x/i.test(text)) return undefined;
  try {
    return CID.parse(text);
  } catch {
    return undefined;
  }
}

export interface GetCidFlags {
  outputDir?: string;
  gateway: string[];
  json?: boolean;
}

/**
 * `lilypad get CID`: makes sure every block is in the lasting blockstore (those missing from the IPFS peers
 * in LILYPAD_IPFS_PEERS, then from the gateways, in order, each checked) and writes `<output dir>/<cid>`: a
 * folder, or a file for a file's CID.
 */
export async function getCid(cid: CID, flags: GetCidFlags, signal: AbortSignal): Promise<{ cid: string; path: string }> {
  const dir = blocksDir(process.env);
  const blockstore = await openBlockstore(dir);
  // A node only when there is a peer to ask: this command names none of its own.
  const ipfs = process.env.LILYPAD_IPFS_PEERS?.trim() ? await startJobCreatorNode(process.env, blockstore) : undefined;
  try {
    const onlyHere = flags.gateway.length === 0 && ipfs === undefined;
    const source = onlyHere ? localSource(blockstore) : peersThenGateways({ ipfs, gatewayUrls: flags.gateway, blockstore });
    await source.fetchDag(cid, { signal }).catch((error: unknown) => {
      if (!onlyHere || !(error instanceof StorageError && error.code === 'block-missing')) throw error;
      const missing = String(error.details?.cid ?? cid);
      const which = missing === cid.toString() ? missing : `block ${missing} of ${cid}`;
      throw new StorageError(`${which} is not in ${dir}; name a gateway that serves it with --gateway URL, or an IPFS peer with LILYPAD_IPFS_PEERS`, { code: 'block-missing', cause: error });
    });
    const outputDir = path.resolve(flags.outputDir ?? defaultResultsDir());
    const target = path.join(outputDir, cid.toString());
    await mkdir(outputDir, { recursive: true });
    const there = await stat(target).catch(() => undefined);
    if (there) {
      // Content addressed: what is already there is fine exactly when it is the same content.
      const existing = there.isDirectory() ? await cidOfDirectory(target) : await cidOfFile(target);
      if (!existing.equals(cid)) throw new UserInputError(`${target} already exists and holds ${existing}, not ${cid}; move it away or choose --output-dir`, { code: 'destination-exists' });
      return { cid: cid.toString(), path: target };
    }
    try {
      await exportDirectory(cid, blockstore, target, { signal });
    } catch (error) {
      if (!(error instanceof LilypadError && error.code === 'not-a-directory')) throw error;
      await exportFile(cid, blockstore, target, { signal });
    }
    return { cid: cid.toString(), path: target };
  } finally {
    await ipfs?.stop();
    await closeBlockstore(blockstore);
  }
}

export function registerAddCommand(program: Command): void {
  program
    .command('add')
    .description('add a file or folder to this machine\'s blockstore (LILYPAD_BLOCKS_DIR, default ~/.lilypad/blocks) and print its CID')
    .argument('<path>', 'a file or folder')
    .option('--json', 'print {"cid", "path", "bytes"}')
    .action(async (target: string, flags: { json?: boolean }) => {
      const blockstore = await openBlockstore(blocksDir(process.env));
      try {
        const added = await addPath(target, blockstore, `cannot add ${target}`);
        process.stdout.write(flags.json ? JSON.stringify(added) + '\n' : `${added.cid}\n`);
      } finally {
        await closeBlockstore(blockstore);
      }
    });
}
