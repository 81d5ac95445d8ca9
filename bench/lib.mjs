// Shared by the benchmarks: timing child processes, sampling their memory, writing results.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function childrenOf(pid) {
  const children = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {}
  }
  return children;
}

function treeRssKiB(pid) {
  let total = 0;
  const stack = [pid];
  while (stack.length) {
    const current = stack.pop();
    try {
      const status = readFileSync(`/proc/${current}/status`, 'latin1');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {}
    stack.push(...childrenOf(current));
  }
  return total;
}

/**
 * Runs a command, returning its wall time (ms), exit code, output, and the peak resident memory of the
 * whole process tree (KiB, sampled every 10 ms, so a lower bound).
 */
export function timeCommand(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    let peakTreeRss = 0;
    const sampler = setInterval(() => {
      peakTreeRss = Math.max(peakTreeRss, treeRssKiB(child.pid));
    }, 10);
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      resolve({ ms: performance.now() - started, code, stdout, stderr, peakTreeRssKiB: peakTreeRss });
    });
  });
}

export function writeResults(name, results) {
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${name}.json`, dir);
  writeFileSync(file, JSON.stringify({ name, date: new Date().toISOString(), node: process.version, ...results }, null, 2) + '\n');
  return fileURLToPath(file);
}
