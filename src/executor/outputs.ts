/**
 * Checks a finished job's `/outputs` before anyone takes its CID: only plain files and folders (a symbolic
 * link could point the provider at its own files), and no more bytes than the cap, counting the apparent size
 * of each file (a sparse file counts in full, since that is what its CID would cover), and no deeper than a
 * result can be stored (MAX_DIRECTORY_DEPTH, less the `outputs/` level itself).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { ExecutorError } from '../lib/errors.js';
import { MAX_DIRECTORY_DEPTH } from '../storage/add.js';

/** How many folders deep `/outputs` may nest: the result folder's own `outputs/` is one level of the DAG. */
export const MAX_OUTPUT_DEPTH = MAX_DIRECTORY_DEPTH - 1;

export async function checkOutputs(jobId: string, outputsDir: string, limitBytes: number): Promise<number> {
  let total = 0;
  const tooDeep = () =>
    new ExecutorError(
      `job ${jobId} nested folders in /outputs deeper than ${MAX_OUTPUT_DEPTH} levels; a result may be at most that deep`,
      { code: 'outputs-invalid', details: { jobId, maxDepth: MAX_OUTPUT_DEPTH } },
    );
  const pending = [{ relative: '', depth: 0 }];
  while (pending.length > 0) {
    const { relative, depth } = pending.pop()!;
    const entries = await readdir(join(outputsDir, relative), { withFileTypes: true }).catch((error: unknown) => {
      // Paths past the host's PATH_MAX cannot be read by name at all.
      throw (error as { code?: string }).code === 'ENAMETOOLONG' ? tooDeep() : error;
    });
    for (const entry of entries) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (depth + 1 > MAX_OUTPUT_DEPTH) throw tooDeep();
        pending.push({ relative: path, depth: depth + 1 });
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
