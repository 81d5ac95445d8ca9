/**
 * Starts and stops a local anvil node (the binary inside the npm package @foundry-rs/anvil) on a free
 * 127.0.0.1 port (or the address asked for). Owns the anvil process only: it is killed by its PID, never by name. anvil never outlives
 * the Node process that started it, even one killed with SIGKILL (see WATCHDOG), and with a state file it
 * keeps every block on disk as soon as it is mined.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { ChainError } from '../lib/errors.js';
import { markChainStopped } from './clients.js';

export interface StartAnvilOptions {
  /** Address to listen on; default 127.0.0.1. 0.0.0.0 or :: listen on every interface. */
  host?: string;
  /** Port to listen on; 0 (the default) lets the system pick a free one. */
  port?: number;
  /**
   * Load the chain from this file if it exists, write it back after every block and on stop. Only one
   * anvil may run on a state file: a second start is refused.
   */
  stateFile?: string;
  /** Mine a block every this many seconds; by default every transaction is mined at once. */
  blockTime?: number;
  /** Chain id; anvil's default is 31337. */
  chainId?: number;
  /** Aborting it during start-up kills the process and rejects. */
  signal?: AbortSignal;
  /** How long to wait for anvil to listen (ms). Default 10 s. */
  startTimeoutMs?: number;
}

export interface AnvilInstance {
  rpcUrl: string;
  port: number;
  pid: number;
  chainId: number;
  /** Settles when anvil has exited, whoever stopped it. */
  exited: Promise<void>;
  /** Stops anvil (SIGTERM, then SIGKILL after 5 s) and waits until it has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** The private keys of anvil's default dev accounts (mnemonic "test test … junk"); public knowledge. */
export const ANVIL_DEV_PRIVATE_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
] as const;

const ANVIL_DEFAULT_CHAIN_ID = 31337;

/** Resolves the anvil binary shipped in the platform package of @foundry-rs/anvil. */
export function anvilBinaryPath(): string {
  const platformPackage = `@foundry-rs/anvil-${process.platform === 'win32' ? 'win32' : process.platform}-${
    process.arch === 'x64' ? 'amd64' : process.arch
  }`;
  const require = createRequire(import.meta.url);
  let packageJson: string;
  try {
    packageJson = require.resolve(`${platformPackage}/package.json`);
  } catch (cause) {
    throw new ChainError(
      `anvil is not installed for ${process.platform}/${process.arch}: the package ${platformPackage} is missing; ` +
        'run `npm install` on this machine, or point the RPC URL at another EVM node',
      { code: 'anvil-missing', cause },
    );
  }
  const binary = path.join(path.dirname(packageJson), 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
  if (!existsSync(binary)) {
    throw new ChainError(`anvil binary not found at ${binary}; reinstall @foundry-rs/anvil`, { code: 'anvil-missing' });
  }
  return binary;
}

/**
 * anvil is started through this POSIX sh script, which keeps the write end of a pipe from Node as its only
 * tie to the parent: a background subshell reads the pipe and, when it reaches end of file (Node exited,
 * however it died: the kernel closes the pipe), sends anvil SIGTERM, so anvil saves its state and exits.
 * The shell then execs anvil, so the process Node holds (its PID, its exit) is anvil itself.
 */
const WATCHDOG = 'exec 3<&0 </dev/null; (while read -r _ <&3; do :; done; kill -TERM $$ 2>/dev/null) & exec "$0" "$@" 3<&-';

/** PIDs of the anvil processes that run on `stateFile` (read from /proc; none where there is no /proc). */
export function anvilsOnState(stateFile: string): number[] {
  const wanted = path.resolve(stateFile);
  const found: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return found;
  }
  for (const entry of entries) {
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0] ?? '') !== 'anvil') continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      const at = argv.findIndex((arg, i) => ['--state', '--load-state', '--dump-state'].includes(argv[i - 1] ?? '') && path.resolve(arg) === wanted);
      if (at > 0) found.push(Number(entry));
    } catch {
      // the process ended while we looked, or is not ours to read
    }
  }
  return found;
}

const LISTENING = /Listening on (\S+):(\d+)/;

/** The address this machine reaches a node listening on `host` at, as a URL writes it. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Spawns anvil (on 127.0.0.1 unless told) and resolves once it listens (typically 20–50 ms). */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilInstance> {
  options.signal?.throwIfAborted();
  const chainId = options.chainId ?? ANVIL_DEFAULT_CHAIN_ID;
  const host = options.host ?? '127.0.0.1';
  const args = ['--host', host.replace(/^\[(.*)\]$/, '$1'), '--port', String(options.port ?? 0), '--accounts', '10'];
  if (options.chainId !== undefined) args.push('--chain-id', String(options.chainId));
  if (options.blockTime !== undefined) args.push('--block-time', String(options.blockTime));
  const stateFile = options.stateFile === undefined ? undefined : path.resolve(options.stateFile);
  if (stateFile !== undefined) {
    const holders = anvilsOnState(stateFile);
    if (holders.length > 0) {
      throw new ChainError(
        `the chain state ${stateFile} is in use by anvil (pid ${holders.join(', ')}); stop that chain first (\`lilypad stack down\`, or kill ${holders.join(' ')})`,
        { code: 'chain-state-in-use', details: { pids: holders } },
      );
    }
    args.push('--state', stateFile);
  }

  // Not --quiet: that also hides the "Listening on" line that tells us the port. stdout is drained.
  // Detached: a Ctrl-C in the terminal reaches Node, which stops anvil last, not anvil under its feet.
  const child = spawn('/bin/sh', ['-c', WATCHDOG, anvilBinaryPath(), ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  child.stdin!.on('error', () => undefined);
  child.once('exit', () => child.stdin!.destroy()); // lets the watchdog's subshell go
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else {
      child.once('exit', () => resolve());
      child.once('error', () => { if (child.pid === undefined) resolve(); }); // never spawned
    }
  });

  let stdout = '';
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 16_384) stderr += chunk;
  });

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new ChainError(`anvil did not start within ${options.startTimeoutMs ?? 10_000} ms`, {
          code: 'anvil-start-timeout', details: { stderr: stderr.trim() },
        })),
        options.startTimeoutMs ?? 10_000,
      );
      const onAbort = () => reject(options.signal!.reason ?? new Error('aborted'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      child.stdout!.setEncoding('utf8').on('data', function onData(chunk: string) {
        stdout += chunk;
        const match = LISTENING.exec(stdout);
        if (match) {
          child.stdout!.off('data', onData);
          child.stdout!.resume(); // keep draining anvil's per-request log lines
          stdout = '';
          cleanup();
          resolve(Number(match[2]));
        }
      });
      child.once('error', (cause) => {
        cleanup();
        reject(new ChainError(`could not start anvil: ${cause.message}`, { code: 'anvil-start-failed', cause }));
      });
      child.once('exit', (code, signal) => {
        cleanup();
        // Give stderr a moment to flush before reporting it.
        setImmediate(() =>
          reject(new ChainError(
            `anvil exited during start-up (${signal ?? `code ${code}`}): ${stderr.trim() || stdout.trim().slice(-2000) || 'no output'}`,
            { code: 'anvil-start-failed', details: { exitCode: code, signal, args } },
          )),
        );
      });
    });
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw error;
  }

  const rpcUrl = `http://${urlHost(host)}:${port}`;
  markChainStopped(rpcUrl, false);
  const saver = stateFile === undefined ? undefined : saveStateOnEveryBlock(`ws://${urlHost(host)}:${port}`, stateFile);
  let stopping: Promise<void> | undefined;
  return {
    rpcUrl,
    port,
    pid: child.pid!,
    chainId,
    exited,
    stop() {
      stopping ??= (async () => {
        await saver?.stop();
        markChainStopped(rpcUrl, true); // what still asks it now (a watcher's last poll) fails at once
        if (child.exitCode !== null || child.signalCode !== null) return;
        // SIGTERM lets anvil write its --state file; SIGKILL only if it hangs.
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/**
 * Writes anvil's state to `stateFile` after every new block (anvil's `--state` alone writes it only on a
 * clean exit, so a SIGKILL would lose every block since the start). Each write replaces the file whole
 * (write, then rename), so a crash mid-write leaves the previous block's state, never a broken file.
 */
function saveStateOnEveryBlock(wsUrl: string, stateFile: string): { stop(): Promise<void> } {
  const socket = new WebSocket(wsUrl);
  let saving: Promise<void> = Promise.resolve();
  let again = false;
  let busy = false;
  let nextId = 2;
  const answers = new Map<number, (result: string | undefined) => void>();
  const dump = () =>
    new Promise<string | undefined>((resolve) => {
      const id = nextId++;
      answers.set(id, resolve);
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'anvil_dumpState', params: [] }), (error) => {
        if (error) { answers.delete(id); resolve(undefined); }
      });
    });
  const save = async () => {
    const hex = await dump();
    if (!hex) return;
    const temporary = `${stateFile}.saving`;
    await writeFile(temporary, gunzipSync(Buffer.from(hex.slice(2), 'hex')));
    await rename(temporary, stateFile);
  };
  const onBlock = () => {
    if (busy) { again = true; return; }
    busy = true;
    saving = (async () => {
      do {
        again = false;
        await save().catch(() => undefined); // best effort: anvil also writes the file when it stops
      } while (again);
      busy = false;
    })();
  };
  socket.on('open', () => socket.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_subscribe', params: ['newHeads'] })));
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; method?: string; result?: string };
    if (message.method === 'eth_subscription') onBlock();
    else if (message.id !== undefined && answers.has(message.id)) {
      answers.get(message.id)!(typeof message.result === 'string' ? message.result : undefined);
      answers.delete(message.id);
    }
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    for (const resolve of answers.values()) resolve(undefined);
    answers.clear();
  });
  return {
    async stop() {
      await saving;
      socket.close();
    },
  };
}
