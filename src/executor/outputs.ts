/**
 * Checks a finished job's `/outputs` before anyone takes its CID: only plain files and folders (a symbolic
 * link could point the provider at its own files), and no more bytes than the cap, counting the apparent size
 * of each file (a sparse file counts in full, since that is what its CID would cover).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { ExecutorError } from '../lib/errors.js';

export async function checkOutputs(jobId: string, outputsDir: string, limitBytes: number): Promise<number> {
  let total = 0;
  const pending = [''];
  while (pending.length > 0) {
    const relative = pending.pop() as string;
    for (const entry of await readdir(join(outputsDir, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        pending.push(path);
        continue;
      }
      if (!entry.isFile()) {
        const kind = entry.isSymbolicLink() ? 'a symbolic link' : 'a special file';
        throw new ExecutorError(`job ${jobId} left ${kind} at /outputs/${path}; outputs may hold only files and folders`, {
          code: 'outputs-invalid',
          details: { jobId, path },
        });
      }
      total += (await lstat(join(outputsDir, path))).size;
      if (total > limitBytes) {
        throw new ExecutorError(`job ${jobId} wrote more than its /outputs limit of ${limitBytes} bytes`, {
          code: 'outputs-limit',
          details: { jobId, limitBytes },
        });
      }
    }
  }
  return total;
}
