/** Running the real CLI as a child process, and finding processes it left behind. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const testHome = mkdtempSync(path.join(os.tmpdir(), 'lilypad-test-home-'));
const testJobsDb = path.join(testHome, 'jobs.db');
/** Network presets that tests write (`lilypad stack up` writes one named stack). */
export const testNetworksDir = path.join(testHome, 'networks');

export const cliPath = fileURLToPath(new URL('../bin/lilypad.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Every process started during the run (by the CLI or its children) carries this in its environment. */
  marker: string;
}

export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const marker = randomUUID();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, LILYPAD_TEST_MARKER: marker };
  // A configured network in the environment running the tests must not leak into them.
  for (const name of ['WEB3_RPC_URL', 'WEB3_PRIVATE_KEY', 'SERVICE_SOLVER', 'SERVICE_MEDIATORS', 'LILYPAD_DEALS_ADDRESS']) delete childEnv[name];
  // NAME:TAG falls back to a git organisation; in tests it is a folder that does not exist, so nothing
  // ever leaves this machine.
  childEnv.LILYPAD_MODULE_ORG = 'file:///nonexistent/lilypad-module-{name}';
  // Job records of tests stay out of the user's ~/.lilypad (a test may point it elsewhere).
  childEnv.LILYPAD_JOBS_DB = testJobsDb;
  childEnv.LILYPAD_NETWORKS_DIR = testNetworksDir;
  delete childEnv.LILYPAD_NETWORK;
  Object.assign(childEnv, env);
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
