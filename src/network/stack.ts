/**
 * `lilypad stack`: a whole network on this machine as separate processes — a chain that keeps its state
 * in the stack folder, the contracts deployed once, funded accounts, a solver, a mediator and N resource
 * providers — with the environment `lilypad run` needs to use it. Each service is a `lilypad` process
 * started detached, logging to `<dir>/<name>.log`; `stack.json` records what runs where.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { parseEther, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilsOnState } from '../chain/anvil.js';
import { ANVIL_DEV_PRIVATE_KEYS, connectChain, deployContracts, fund } from '../chain/index.js';
import { LilypadError, UserInputError } from '../lib/errors.js';

export interface StackProcess {
  name: string;
  pid: number;
  log: string;
  /** How it was started, so that `lilypad stack restart NAME` can start it again the same way. */
  args?: string[];
  env?: Record<string, string>;
  /** The chain's anvil, a process of its own (it ends when `lilypad chain` does). */
  anvilPid?: number;
}

export interface StackState {
  rpcUrl: string;
  chainId: number;
  contracts: { token: Address; deals: Address };
  solverUrl: string;
  mediators: Address[];
  /** anvil's public dev keys: fine for a local stack, never for a real network. */
  keys: { deployer: Hex; jobCreator: Hex; mediator: Hex; providers: Hex[] };
  processes: StackProcess[];
}

export interface StackUpOptions {
  dir: string;
  providers: number;
  /** The `lilypad` executable script to start services with. */
  cliPath: string;
  onProgress?: (line: string) => void;
  /** Aborting it stops what was started so far and rejects. */
  signal?: AbortSignal;
  /**
   * Settings every service starts with (`LILYPAD_MODULE_SOURCES=...`, say), recorded with each service so that
   * `stack restart` starts it with them again, whatever the restarting shell holds.
   */
  serviceSettings?: Record<string, string>;
}

const stateFile = (dir: string) => path.join(dir, 'stack.json');
const chainStateFile = (dir: string) => path.join(dir, 'chain-state.json');
const MAX_PROVIDERS = ANVIL_DEV_PRIVATE_KEYS.length - 4;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether the process runs; a zombie (exited, not yet reaped by whoever adopted it) does not. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc here: trust the signal check
  }
}

export async function readStack(dir: string): Promise<StackState | undefined> {
  if (!existsSync(stateFile(dir))) return undefined;
  return JSON.parse(await readFile(stateFile(dir), 'utf8')) as StackState;
}

async function writeStack(dir: string, state: StackState): Promise<void> {
  await writeFile(stateFile(dir), JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
}

/** Starts `lilypad NAME ...` detached and waits for its ready line; returns it and the process. */
async function startService(
  options: StackUpOptions,
  name: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ process: StackProcess; ready: Record<string, unknown> }> {
  const log = path.join(options.dir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [options.cliPath, ...args], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  child.unref();
  const pid = child.pid!;
  const started = Date.now();
  for (;;) {
    const lines = readFileSync(log, 'utf8').split('\n');
    const readyLine = lines.reverse().find((line) => line.startsWith(`{"ready":"${args[0]}"`) && line.includes(`"pid":${pid}`));
    if (readyLine) return { process: { name, pid, log, args, env }, ready: JSON.parse(readyLine) };
    if (!isAlive(pid) || Date.now() - started > 30_000) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      const tail = lines.reverse().filter(Boolean).slice(-5).join('\n');
      throw new LilypadError(`stack: ${name} did not start; the end of ${log}:\n${tail}`, { code: 'stack-service-failed' });
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function stackUp(options: StackUpOptions): Promise<StackState> {
  const say = options.onProgress ?? (() => undefined);
  if (options.providers < 1 || options.providers > MAX_PROVIDERS) {
    throw new UserInputError(`stack: --providers must be between 1 and ${MAX_PROVIDERS}`, { code: 'input-malformed' });
  }
  await mkdir(options.dir, { recursive: true });
  const previous = await readStack(options.dir);
  if (previous?.processes.some((p) => isAlive(p.pid))) {
    throw new UserInputError(`stack: a stack is already running in ${options.dir}; run \`lilypad stack down\` first`, { code: 'stack-running' });
  }
  // A second chain on the same state would start from an older snapshot than the one still running.
  const chains = anvilsOnState(chainStateFile(options.dir));
  if (chains.length > 0) {
    throw new UserInputError(`stack: a chain (anvil pid ${chains.join(', ')}) still runs on ${chainStateFile(options.dir)}; run \`lilypad stack down\` first`, { code: 'stack-running' });
  }

  const keys = {
    deployer: ANVIL_DEV_PRIVATE_KEYS[0],
    jobCreator: ANVIL_DEV_PRIVATE_KEYS[1],
    mediator: ANVIL_DEV_PRIVATE_KEYS[3],
    providers: ANVIL_DEV_PRIVATE_KEYS.slice(4, 4 + options.providers) as Hex[],
  };
  const processes: StackProcess[] = [];
  const state: StackState = {
    rpcUrl: '',
    chainId: 0,
    contracts: previous?.contracts ?? { token: '0x', deals: '0x' } as never,
    solverUrl: '',
    mediators: [privateKeyToAccount(keys.mediator).address],
    keys,
    processes,
  };
  const started = async (name: string, args: string[], env: Record<string, string>) => {
    options.signal?.throwIfAborted();
    const service = await startService(options, name, args, { ...options.serviceSettings, ...env });
    processes.push(service.process);
    options.signal?.throwIfAborted();
    return service;
  };
  try {
    const chainPort = await freePort();
    const chain = await started('chain', ['chain', '--port', String(chainPort), '--state', chainStateFile(options.dir)], {});
    if (typeof chain.ready.anvilPid === 'number') chain.process.anvilPid = chain.ready.anvilPid;
    state.rpcUrl = String(chain.ready.url);
    state.chainId = Number(chain.ready.chainId);
    say(`chain        ${state.rpcUrl} (state in ${options.dir})`);

    const deployer = await connectChain({ rpcUrl: state.rpcUrl, privateKey: keys.deployer, chainId: state.chainId });
    const deployed = previous && (await deployer.publicClient.getCode({ address: previous.contracts.deals }))?.length;
    if (!deployed) {
      state.contracts = await deployContracts(deployer.walletClient, deployer.publicClient);
      const faucet = { walletClient: deployer.walletClient, publicClient: deployer.publicClient, ...state.contracts };
      for (const key of [keys.jobCreator, ...keys.providers]) {
        await fund({ ...faucet, to: privateKeyToAccount(key).address, escrow: parseEther('1000') });
      }
    }
    say(`contracts    deals ${state.contracts.deals}, token ${state.contracts.token}`);
    await writeStack(options.dir, state);

    const chainEnv = { WEB3_RPC_URL: state.rpcUrl, LILYPAD_DEALS_ADDRESS: state.contracts.deals };
    const solver = await started('solver', ['solver', '--port', String(await freePort()), '--db', path.join(options.dir, 'solver.db')], chainEnv);
    state.solverUrl = String(solver.ready.url);
    say(`solver       ${state.solverUrl}`);
    await writeStack(options.dir, state);

    await started('mediator', ['mediator'], { ...chainEnv, WEB3_PRIVATE_KEY: keys.mediator, SERVICE_SOLVER: state.solverUrl, LILYPAD_DATA_DIR: path.join(options.dir, 'mediator') });
    say(`mediator     ${state.mediators[0]}`);
    await writeStack(options.dir, state);

    for (const [index, key] of keys.providers.entries()) {
      const name = `resource-provider-${index + 1}`;
      await started(name, ['resource-provider', '--data-dir', path.join(options.dir, name)], {
        ...chainEnv,
        WEB3_PRIVATE_KEY: key,
        SERVICE_SOLVER: state.solverUrl,
        SERVICE_MEDIATORS: state.mediators.join(','),
      });
      say(`${name.padEnd(12)} ${privateKeyToAccount(key).address}`);
      await writeStack(options.dir, state);
    }
    return state;
  } catch (error) {
    await stopProcesses(processes);
    await stopPids(anvilsOnState(chainStateFile(options.dir)));
    await writeStack(options.dir, { ...state, processes: [] }).catch(() => undefined);
    throw error;
  }
}

/** SIGTERM to each process in turn, SIGKILL after 10 s; resolves when all are gone. */
async function stopPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    if (!isAlive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}

/** In reverse order of start, the chain last, so that it saves its state. */
async function stopProcesses(processes: StackProcess[]): Promise<void> {
  await stopPids([...processes].reverse().map((entry) => entry.pid));
}

/**
 * Stops every service of the stack, and then any anvil still running on the stack's chain state (one whose
 * `lilypad chain` was killed), so that the next `stack up` starts from the last block. Returns what ran.
 */
export async function stackDown(dir: string): Promise<StackProcess[]> {
  const state = await readStack(dir);
  const running = (state?.processes ?? []).filter((p) => isAlive(p.pid));
  if (state) await stopProcesses(state.processes);
  const chains = anvilsOnState(chainStateFile(dir));
  await stopPids(chains);
  if (state) await writeStack(dir, { ...state, processes: [] });
  return [...running, ...chains.map((pid) => ({ name: `anvil (pid ${pid})`, pid, log: '' }))];
}

export type ServiceHealth = 'running' | 'not answering' | 'stopped';

/** Whether a service of the stack runs and, where it serves an address (chain, solver), answers there. */
export async function serviceHealth(state: StackState, entry: StackProcess): Promise<ServiceHealth> {
  if (!isAlive(entry.pid) || (entry.anvilPid !== undefined && !isAlive(entry.anvilPid))) return 'stopped';
  const probe = (url: string, init?: RequestInit) =>
    fetch(url, { ...init, signal: AbortSignal.timeout(2_000) }).then((response) => response.ok || entry.name !== 'chain', () => false);
  if (entry.name === 'chain' && state.rpcUrl) {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
    return (await probe(state.rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body })) ? 'running' : 'not answering';
  }
  if (entry.name === 'solver' && state.solverUrl) return (await probe(state.solverUrl)) ? 'running' : 'not answering';
  return 'running';
}

/**
 * Starts one service of the stack again as it was started (after a crash, or to pick up new code): stops it
 * first if it still runs (SIGTERM, then SIGKILL after 10 s). The chain cannot be restarted this way: the
 * others hold its URL.
 */
export async function stackRestart(dir: string, name: string, cliPath: string): Promise<StackProcess> {
  const state = await readStack(dir);
  const index = state?.processes.findIndex((p) => p.name === name) ?? -1;
  if (!state || index < 0) {
    const names = state?.processes.map((p) => p.name).join(', ');
    throw new UserInputError(`stack: no service ${name} in ${dir}${names ? `; services: ${names}` : ''}`, { code: 'input-malformed' });
  }
  const entry = state.processes[index]!;
  if (name === 'chain' || !entry.args) {
    throw new UserInputError(`stack: ${name} cannot be restarted on its own; use \`lilypad stack down\` and \`up\``, { code: 'input-malformed' });
  }
  await stopProcesses([entry]);
  const started = await startService({ dir, providers: 0, cliPath }, name, entry.args, entry.env ?? {});
  state.processes[index] = started.process;
  await writeStack(dir, state);
  return started.process;
}

/** What `lilypad run` needs to use the stack, as the job creator. */
export function stackEnv(state: StackState): Record<string, string> {
  return {
    WEB3_RPC_URL: state.rpcUrl,
    WEB3_PRIVATE_KEY: state.keys.jobCreator,
    SERVICE_SOLVER: state.solverUrl,
    SERVICE_MEDIATORS: state.mediators.join(','),
    LILYPAD_DEALS_ADDRESS: state.contracts.deals,
    LILYPAD_TOKEN_ADDRESS: state.contracts.token,
  };
}
