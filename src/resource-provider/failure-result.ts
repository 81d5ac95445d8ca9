/**
 * The result folder of a job that the executor gave up on after the deal was agreed (a module that does not
 * instantiate, a trap outside the job's own exit): the usual shape, `exitCode` 1 and an `error` file with the
 * reason, so that the deal ends with the reason on record. What it holds depends only on the job, never on the
 * deal (ids and paths are taken out), so a mediator's re-run of the same job writes the same folder.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The reason, without what differs from one deal or machine to the next. */
export function failureReason(error: Error): string {
  return error.message
    .replace(/\b0x[0-9a-fA-F]{64}\b/g, 'the job')
    .replace(/(^|\s)\/\S+/g, '$1<path>')
    .slice(0, 4096);
}

export async function writeFailureResult(resultDir: string, error: Error): Promise<void> {
  await rm(resultDir, { recursive: true, force: true });
  await mkdir(path.join(resultDir, 'outputs'), { recursive: true });
  await writeFile(path.join(resultDir, 'stdout'), '');
  await writeFile(path.join(resultDir, 'stderr'), '');
  await writeFile(path.join(resultDir, 'exitCode'), '1');
  await writeFile(path.join(resultDir, 'error'), failureReason(error) + '\n');
}
