/**
 * node:wasi opens a job's preopened directories (and the files the job opens) as descriptors of this
 * process and never closes them; the worker closes them when a job ends, but a worker stopped mid-job
 * (wall-clock limit, abort) cannot. This finds such descriptors by where they point (Linux `/proc/self/fd`)
 * and closes them, so that a provider stopping many jobs does not run out of descriptors.
 */
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { sep } from 'node:path';

export function closeDescriptorsUnder(dirs: string[]): number {
  let entries: string[];
  try {
    entries = readdirSync('/proc/self/fd');
  } catch {
    return 0; // not Linux: nothing to look at
  }
  let closed = 0;
  for (const entry of entries) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${entry}`);
    } catch {
      continue;
    }
    if (!dirs.some((dir) => target === dir || target.startsWith(dir + sep))) continue;
    try {
      closeSync(Number(entry));
      closed++;
    } catch {
      // already closed
    }
  }
  return closed;
}
