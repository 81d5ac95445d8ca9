/** Running the real CLI as a child process, and finding processes it left behind. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Address, Hex } from 'viem';
import { isAlive } from '../src/network/stack.js';
import { openDealStore, type StoredDeal } from '../src/resource-provider/deal-store.js';
import { connectChain, escrowBalance, type LilypadPublicClient } from '../src/chain/index.js';
import type { JobCreatorComponents } from '../src/job-creator/types.js';
import { startEmbeddedNetwork, type EmbeddedNetwork } from '../src/network/embedded.js';
import { createSolverClient } from '../src/solver/client.js';
import { addDirectory, cidOfBytes, closeBlockstore, openBlockstore, type FsBlockstore } from '../src/storage/index.js';
import { createIpfsNode, type IpfsNode } from '../src/storage/ipfs-node.js';

const testHome = mkdtempSync(path.join(os.tmpdir(), 'lilypad-test-home-'));
const testJobsDb = path.join(testHome, 'jobs.db');
/** Network presets that tests write (`lilypad stack up` writes one named stack). */
export const testNetworksDir = path.join(testHome, 'networks');

export const cliPath = fileURLToPath(new URL('../bin/lilypad.js', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every process started during the run (by the CLI or its children) carries this in its environment. */
  marker: string;
}

/** The environment runCli gives the CLI. */
function cliEnv(marker: string, env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LILYPAD_TEST_MARKER: marker };
  // A configured network in the environment running the tests must not leak into them.
  for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS']) delete childEnv[name];
  // NAME:TAG falls back to a git organisation; in tests it is a folder that does not exist, so nothing
  // ever leaves this machine.
  childEnv.LILYPAD_MODULE_ORG = 'file:///nonexistent/lilypad-module-{name}';
  // Job records of tests stay out of the user's ~/.lilypad (a test may point it elsewhere).
  childEnv.LILYPAD_JOBS_DB = testJobsDb;
  // So do the blocks that `lilypad add`, `@PATH` inputs and embedded runs keep.
  childEnv.LILYPAD_BLOCKS_DIR = path.join(testHome, 'blocks');
  childEnv.LILYPAD_NETWORKS_DIR = testNetworksDir;
  // And the studio's database, for a command that names no --data-dir.
  childEnv.LILYPAD_STUDIO_DIR = path.join(testHome, 'studio');
  delete childEnv.LILYPAD_NETWORK;
  return Object.assign(childEnv, env);
}

export interface StartedCli {
  child: ReturnType<typeof spawn>;
  marker: string;
  /** What it has printed so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves once stdout or stderr has a line that matches. */
  printed(pattern: RegExp): Promise<void>;
  exited: Promise<CliResult & { signal: NodeJS.Signals | null }>;
}

/** Starts the CLI as runCli does, without waiting for it: to signal it, or to watch it. */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): StartedCli {
  const marker = randomUUID();
  const child = spawn(process.execPath, [cliPath, ...args], { env: cliEnv(marker, env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: Array<() => void> = [];
  const onData = () => { for (const watcher of watchers) watcher(); };
  child.stdout!.on('data', (chunk) => { stdout += chunk; onData(); });
  child.stderr!.on('data', (chunk) => { stderr += chunk; onData(); });
  const exited = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, marker })),
  );
  return {
    child,
    marker,
    output: () => ({ stdout, stderr }),
    printed: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => { if (pattern.test(stdout) || pattern.test(stderr)) resolve(); };
        watchers.push(check);
        check();
        void exited.then(() => { check(); reject(new Error(`exited without printing ${pattern}:\n${stdout}\n${stderr}`)); });
      }),
    exited,
  };
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const marker = randomUUID();
  const childEnv = cliEnv(marker, env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, marker }));
  });
}

/** PIDs of live processes whose environment contains the marker. */
export function processesWithMarker(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1');
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (environ.includes(`LILYPAD_TEST_MARKER=${marker}`) && !/^\d+ \(.*\) Z/.test(stat)) found.push(Number(entry));
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }
  return found;
}

/** Resolves once none of the processes is alive (after a kill, say). */
export async function untilGone(pids: number[]): Promise<void> {
  while (pids.some(isAlive)) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** What a resource provider's own store holds of a deal (`dataDir/provider.db`), read and closed at once. */
export function storedDeal(dataDir: string, dealId: Hex): StoredDeal | undefined {
  const store = openDealStore(path.join(dataDir, 'provider.db'));
  try {
    return store.get(dealId);
  } finally {
    store.close();
  }
}

/** The built-in spin module with a Timeout of `seconds`, as a local module folder `dir`: a job that fails after agreement. */
export async function spinModuleWithTimeout(dir: string, seconds: number): Promise<string> {
  await cp(path.join(repoRoot, 'modules', 'spin'), dir, { recursive: true });
  const template = path.join(dir, 'lilypad_module.json.tmpl');
  await writeFile(template, (await readFile(template, 'utf8')).replace('"Timeout": 600', `"Timeout": ${seconds}`));
  return dir;
}

/**
 * The executor's probe program as a local module folder `dir`, run with `parameters` (a JSON array in the
 * template, so it may hold `{{ .Input }}`), asking for 64 MB of RAM and a Timeout of `seconds`.
 */
export async function probeModule(dir: string, parameters: string, seconds: number): Promise<string> {
  await spinModuleWithTimeout(dir, seconds);
  await rm(path.join(dir, 'spin.wasm'));
  // Another program than spin: its inputs are not spin's Rounds, so it declares none (untyped).
  await rm(path.join(dir, 'module.json'));
  const probe = await readFile(path.join(repoRoot, 'src', 'executor', 'wasm', 'testdata', 'probe.wasm'));
  await writeFile(path.join(dir, 'probe.wasm'), probe);
  const template = path.join(dir, 'lilypad_module.json.tmpl');
  const spin = await readFile(template, 'utf8');
  const spinCid = /"CID": "([^"]+)"/.exec(spin)![1]!;
  await writeFile(template, spin.replace(spinCid, (await cidOfBytes(probe)).toString()).replace('[{{ .Rounds }}]', parameters));
  return dir;
}

/**
 * A module that allocates without bound, as a local module folder `dir`: the probe in "hog" mode (1 MiB
 * blocks until malloc fails, then exit 12), asking for 64 MB of RAM and a Timeout of 5 s.
 */
export async function hogModule(dir: string): Promise<string> {
  return probeModule(dir, '["hog"]', 5);
}

/** The one line a job that allocated without bound ends with, as `lilypad run` reports it. */
export const HOG_ERROR = 'memory-limit: the job exited with code 12 with its memory at its limit of 64 MiB; the module can ask for more with machine.ram';

/** The probe program printing the file `{{ .File }}`, with the folder `{{ .DataCID }}` at /inputs/data. */
export async function catInputModule(dir: string): Promise<string> {
  await probeModule(dir, '["cat", {{ .File }}]', 30);
  const template = path.join(dir, 'lilypad_module.json.tmpl');
  const spec = await readFile(template, 'utf8');
  await writeFile(template, spec.replace('"Outputs": [', '"Inputs": [{"StorageSource": "IPFS", "CID": {{ .DataCID }}, "Path": "/inputs/data"}],\n      "Outputs": ['));
  return dir;
}

/** `catInputModule` with a second input, `{{ .OtherCID }}` at /inputs/other: it runs only once both were fetched. */
export async function joinInputModule(dir: string): Promise<string> {
  await catInputModule(dir);
  const template = path.join(dir, 'lilypad_module.json.tmpl');
  await writeFile(
    template,
    (await readFile(template, 'utf8')).replace('"Path": "/inputs/data"}', '"Path": "/inputs/data"}, {"StorageSource": "IPFS", "CID": {{ .OtherCID }}, "Path": "/inputs/other"}'),
  );
  return dir;
}

/**
 * The probe program printing "PATH FNV-1a-64" of every file under /inputs/data, with the folder `{{ .Data }}`
 * there (see `fnv1a64` for the digest).
 */
export async function digestInputModule(dir: string): Promise<string> {
  await probeModule(dir, '["digest", "/inputs/data"]', 30);
  const template = path.join(dir, 'lilypad_module.json.tmpl');
  const spec = await readFile(template, 'utf8');
  await writeFile(template, spec.replace('"Outputs": [', '"Inputs": [{"StorageSource": "IPFS", "CID": {{ .Data }}, "Path": "/inputs/data"}],\n      "Outputs": ['));
  return dir;
}

/** FNV-1a, 64 bits, as 16 hex digits: the probe's "digest" mode. */
export function fnv1a64(bytes: Uint8Array): string {
  let hash = 14695981039346656037n;
  for (const byte of bytes) hash = ((hash ^ BigInt(byte)) * 1099511628211n) & 0xffffffffffffffffn;
  return hash.toString(16).padStart(16, '0');
}

/** SIGTERM to every process of `children` still running, and resolves once all have exited. */
export async function stopProcesses(children: readonly ChildProcess[]): Promise<void> {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(children.map((child) => (child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : undefined)));
}

/** Each account's free escrow in the deal contract `deals`, read from the chain, under the same names. */
export async function freeEscrows(publicClient: LilypadPublicClient, deals: Address, accounts: Record<string, Address>): Promise<Record<string, bigint>> {
  const read = async (account: Address) => (await escrowBalance(publicClient, { deals, account })).free;
  return Object.fromEntries(await Promise.all(Object.entries(accounts).map(async ([name, account]) => [name, await read(account)])));
}

/** Starts `node script args` (a double in test/doubles/, say), adds it to `children` and waits for its JSON ready line. */
export async function startReadyProcess(children: ChildProcess[], script: string, args: string[], childEnv: Record<string, string>): Promise<Record<string, unknown>> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...childEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const lines = createInterface({ input: child.stdout! });
  return await new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('{"ready"')) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready: ${stderr}`)));
  });
}

/** What the input folder of `startInputsNetwork` holds at data/sub/a.txt. */
export const INPUT_FILE_CONTENT = 'from the job creator\'s machine\n';

export interface InputsNetwork {
  /** The `catInputModule`, at `dir/cat-module`. */
  moduleDir: string;
  /** The job creator's folder (sub/a.txt), added to `blocks`. */
  folderCid: string;
  /** The job creator's blockstore, which its IPFS node (`ipfs`) serves to the network's provider and mediator. */
  blocks: FsBlockstore;
  ipfs: IpfsNode;
  network: EmbeddedNetwork;
  /** The network's funded job creator. */
  components: JobCreatorComponents;
  stop(): Promise<void>;
}

/** An embedded network whose job creator's IPFS node serves its folder by CID, in `dir`, with a module that reads it. */
export async function startInputsNetwork(dir: string): Promise<InputsNetwork> {
  const moduleDir = await catInputModule(path.join(dir, 'cat-module'));
  await mkdir(path.join(dir, 'data', 'sub'), { recursive: true });
  await writeFile(path.join(dir, 'data', 'sub', 'a.txt'), INPUT_FILE_CONTENT);
  const blocks = await openBlockstore(path.join(dir, 'blocks'));
  const folderCid = (await addDirectory(path.join(dir, 'data'), blocks)).toString();
  const ipfs = createIpfsNode({ blockstore: blocks });
  let network: EmbeddedNetwork | undefined;
  const stop = async () => {
    await network?.stop();
    await ipfs.stop();
    await closeBlockstore(blocks);
  };
  try {
    await ipfs.start();
    network = await startEmbeddedNetwork({ dataDir: path.join(dir, 'network') });
    const chain = await connectChain({ rpcUrl: network.rpcUrl, privateKey: network.jobCreatorPrivateKey, chainId: network.chainId });
    const components = { chain, domain: network.domain, solver: createSolverClient(network.solverUrl), modules: network.modules, readDeal: network.readDeal, blockstore: blocks, ipfs };
    return { moduleDir, folderCid, blocks, ipfs, network, components, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
