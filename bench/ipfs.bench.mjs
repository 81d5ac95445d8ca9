// Moving a 100 MiB folder between two nodes on this machine: over libp2p (bitswap between two IPFS nodes,
// src/storage/ipfs-node.ts) and over the trustless HTTP gateway (serve.ts + fetch.ts), against a plain
// fs.cp of the same folder. Each node is its own process (bench/ipfs-peer.mjs), so its peak memory is its
// own. A move is fetch into the receiver's blockstore (every block checked) plus export to a folder.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { median, root, writeResults } from './lib.mjs';
import { addDirectory } from '../dist/storage/add.js';
import { closeBlockstore, openBlockstore } from '../dist/storage/blockstore.js';

const MiB = 1024 * 1024;
const RUNS = Number(process.env.IPFS_BENCH_RUNS ?? 3);
const peer = join(root, 'bench', 'ipfs-peer.mjs');
const work = await mkdtemp(join(tmpdir(), 'lilypad-ipfs-bench-'));

try {
  // 100 MiB: eight 12 MiB files, one of 4 MiB and a few small ones, as a result folder might hold.
  const folder = join(work, 'folder');
  await mkdir(join(folder, 'outputs'), { recursive: true });
  for (let i = 0; i < 8; i++) await writeFile(join(folder, 'outputs', `part-${i}.bin`), randomBytes(12 * MiB));
  await writeFile(join(folder, 'outputs', 'tail.bin'), randomBytes(4 * MiB));
  await writeFile(join(folder, 'stdout'), 'done\n');
  await writeFile(join(folder, 'exitCode'), '0');
  const folderBytes = 100 * MiB + 5 + 1;

  const senderStore = join(work, 'sender-blocks');
  const store = await openBlockstore(senderStore);
  const cid = await addDirectory(folder, store);
  await closeBlockstore(store);

  const copyMs = [];
  for (let run = 0; run < RUNS; run++) {
    const target = join(work, `copy-${run}`);
    const started = performance.now();
    await cp(folder, target, { recursive: true });
    copyMs.push(performance.now() - started);
    await rm(target, { recursive: true });
  }

  const measure = async (method) => {
    const runs = [];
    for (let run = 0; run < RUNS; run++) {
      const sender = await startSender(senderStore);
      const receiverStore = join(work, `${method}-blocks-${run}`);
      const out = join(work, `${method}-out-${run}`);
      const source = method === 'ipfs' ? sender.info.multiaddr : sender.info.gatewayUrl;
      const receiver = await runJson(['fetch-' + method, source, cid.toString(), receiverStore, out]);
      const senderPeakRssKiB = sender.peakRssKiB();
      await sender.stop();
      runs.push({ ...receiver, senderPeakRssKiB });
      await rm(receiverStore, { recursive: true });
      await rm(out, { recursive: true });
    }
    return runs;
  };
  const ipfsRuns = await measure('ipfs');
  const httpRuns = await measure('http');

  const copy = median(copyMs);
  const summarize = (runs) => {
    const moveMs = median(runs.map((r) => r.fetchMs + r.exportMs));
    return {
      moveMs: round(moveMs),
      fetchMs: round(median(runs.map((r) => r.fetchMs))),
      exportMs: round(median(runs.map((r) => r.exportMs))),
      connectMs: round(median(runs.map((r) => r.connectMs))),
      timeToFirstBlockMs: round(median(runs.map((r) => r.firstBlockMs))),
      MBps: round(folderBytes / 1e6 / (moveMs / 1000)),
      ratioToCopy: round(moveMs / copy),
      blocks: runs[0].blocks,
      receiverPeakRssMiB: round(Math.max(...runs.map((r) => r.peakRssKiB)) / 1024),
      senderPeakRssMiB: round(Math.max(...runs.map((r) => r.senderPeakRssKiB)) / 1024),
    };
  };
  const figures = {
    folderMiB: round(folderBytes / MiB),
    runs: RUNS,
    cid: cid.toString(),
    copy: { moveMs: round(copy), MBps: round(folderBytes / 1e6 / (copy / 1000)) },
    libp2p: summarize(ipfsRuns),
    http: summarize(httpRuns),
    raw: { copyMs, ipfsRuns, httpRuns },
  };
  const line = (name, f) =>
    `ipfs ${name}: ${f.moveMs} ms (fetch ${f.fetchMs} + export ${f.exportMs}), ${f.MBps} MB/s, ${f.ratioToCopy}x a plain copy, ` +
    `first block after ${f.timeToFirstBlockMs} ms, peak RSS receiver ${f.receiverPeakRssMiB} MiB / sender ${f.senderPeakRssMiB} MiB\n`;
  process.stdout.write(`ipfs plain copy (fs.cp) of ${figures.folderMiB} MiB: ${figures.copy.moveMs} ms, ${figures.copy.MBps} MB/s (median of ${RUNS})\n`);
  process.stdout.write(line('libp2p (bitswap)', figures.libp2p));
  process.stdout.write(line('HTTP gateway', figures.http));
  process.stdout.write(`ipfs results: ${writeResults('ipfs', figures)}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}

function round(value) {
  return Math.round(value * 10) / 10;
}

/** Starts a serving peer; its peak RSS is read from /proc (VmHWM) before it is stopped. */
async function startSender(blockstoreDir) {
  const child = spawn(process.execPath, [peer, 'serve', blockstoreDir], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const info = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the serving peer exited with ${code}`)));
    lines.once('line', (text) => resolve(JSON.parse(text)));
  });
  return {
    info,
    peakRssKiB: () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'latin1'))?.[1] ?? 0),
    stop: () =>
      new Promise((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', resolve);
        child.stdin.end();
      }),
  };
}

/** Runs a fetching peer and returns the JSON line it prints. */
function runJson(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [peer, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1))) : reject(new Error(`${args[0]} exited with ${code}`))));
  });
}
