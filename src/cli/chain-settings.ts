/**
 * How every chain client of this process treats the node, parsed once from the environment:
 * `LILYPAD_RPC_TIMEOUT` and `LILYPAD_RPC_WAIT` (s), and `LILYPAD_RPC_STATS_DIR`, where the JSON-RPC calls
 * of this process are counted by method into `<dir>/<pid>.json` each second (the stack benchmark reads them).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { onChainWait, setRpcDefaults } from '../chain/clients.js';

// A value that is not a number of seconds falls back to the default, as it always has.
const seconds = (fallback: number) => z.coerce.number().nonnegative().catch(fallback).default(fallback);

const rpcSchema = z.object({
  LILYPAD_RPC_TIMEOUT: seconds(10),
  LILYPAD_RPC_WAIT: seconds(30),
  LILYPAD_RPC_STATS_DIR: z.string().optional(),
});

export function configureChainClients(env: NodeJS.ProcessEnv): void {
  const settings = rpcSchema.parse({ ...env, LILYPAD_RPC_STATS_DIR: env.LILYPAD_RPC_STATS_DIR || undefined });
  onChainWait((line) => process.stderr.write(`lilypad: ${line}\n`));
  setRpcDefaults({
    timeoutMs: settings.LILYPAD_RPC_TIMEOUT * 1000,
    waitMs: settings.LILYPAD_RPC_WAIT * 1000,
    onRequest: settings.LILYPAD_RPC_STATS_DIR ? rpcCounter(settings.LILYPAD_RPC_STATS_DIR) : undefined,
  });
}

/** Counts requests by method, written at most once a second and at exit; statistics are best effort. */
function rpcCounter(dir: string): (method: string) => void {
  const counts: Record<string, number> = {};
  let timer: NodeJS.Timeout | undefined;
  const write = () => {
    try {
      writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ argv: process.argv.slice(2, 3), counts }));
    } catch {
      // best effort
    }
  };
  return (method) => {
    counts[method] = (counts[method] ?? 0) + 1;
    if (timer) return;
    timer = setInterval(write, 1000);
    timer.unref();
    process.once('exit', write);
  };
}
