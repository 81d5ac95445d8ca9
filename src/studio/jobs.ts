/**
 * Running people's jobs on the studio's own account. A job reserves its credits when it is asked for (in
 * the same transaction that records it), waits its turn, runs on the studio's job network, and ends
 * `succeeded` or `failed`: the credits come back only when it failed before a deal was agreed, as until then
 * the studio paid nothing. Progress events are kept with the job and told to whoever follows it (the web
 * page's EventSource, the API's SSE stream).
 */
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseEther } from 'viem';
import type { JobNetwork } from '../job-creator/job-network.js';
import { progressLine } from '../job-creator/progress-text.js';
import type { JobProgressEvent } from '../job-creator/types.js';
import { isUserFacing, UserInputError } from '../lib/errors.js';
import { checkInputs, type Catalog } from './catalog.js';
import { randomToken } from './secrets.js';
import type { StudioJob, StudioStore } from './store.js';

/** The most LP the studio pays a provider for one job. */
export const STUDIO_MAX_PRICE = parseEther('10');
/** Jobs run at once on the studio's account unless `--parallel-jobs` says otherwise; the rest wait their turn. */
export const DEFAULT_PARALLEL_JOBS = 4;

export type StudioJobEvent = Record<string, unknown> & { type: string; line?: string };

export interface JobFollower {
  onEvent(event: StudioJobEvent): void;
  onEnd(job: StudioJob): void;
}

export interface StudioJobs {
  /**
   * Checks the request, reserves the credits and queues the job; errors (nothing charged) say what was wrong.
   * A job started with an API key records the key, and keeps to the key's daily cap.
   */
  start(userId: number, request: { module?: unknown; inputs?: unknown }, via: 'web' | 'api', apiKeyId?: string): StudioJob;
  /** Events so far, and then each new one until the job ends; returns how to stop following. */
  follow(jobId: string, follower: JobFollower): () => void;
  /**
   * For a stop, once the network's signal was aborted: the jobs still waiting end now, failed and refunded
   * (nothing was signed for them), and this waits for the running ones to stop.
   */
  idle(): Promise<void>;
}

/** A progress event as JSON (bigints as decimal strings), with the line the CLI prints for it. */
export function studioEvent(event: JobProgressEvent): StudioJobEvent {
  const plain = Object.fromEntries(Object.entries(event).map(([key, value]) => [key, typeof value === 'bigint' ? value.toString() : value]));
  const line = progressLine(event);
  return { ...plain, type: event.type, ...(line ? { line } : {}) } as StudioJobEvent;
}

export function createStudioJobs(components: { store: StudioStore; catalog: Catalog; network: Promise<JobNetwork>; parallelJobs?: number }): StudioJobs {
  const { store, catalog } = components;
  const parallelJobs = components.parallelJobs ?? DEFAULT_PARALLEL_JOBS;
  const followers = new Map<string, Set<JobFollower>>();
  // Up to `parallelJobs` jobs run at once on the studio's one account (the job network keeps their deals,
  // transactions and result folders apart); the others wait in the order they were asked for.
  const waiting: StudioJob[] = [];
  const running = new Set<Promise<void>>();
  const startWaiting = () => {
    while (running.size < parallelJobs && waiting.length > 0) {
      const run = runOne(waiting.shift()!).finally(() => {
        running.delete(run);
        startWaiting();
      });
      running.add(run);
    }
  };

  const tell = (jobId: string, event: StudioJobEvent) => {
    store.addJobEvent(jobId, event);
    for (const follower of followers.get(jobId) ?? []) follower.onEvent(event);
  };
  const ended = (jobId: string) => {
    const finished = store.job(jobId)!;
    for (const follower of followers.get(jobId) ?? []) follower.onEnd(finished);
    followers.delete(jobId);
  };

  async function runOne(job: StudioJob): Promise<void> {
    store.setJobRunning(job.id);
    let agreed = false;
    try {
      const network = await components.network;
      const result = await network.run({
        module: job.module,
        inputs: job.inputs,
        maxPrice: STUDIO_MAX_PRICE,
        onProgress: (event) => {
          if (event.type === 'deal:agreed') agreed = true;
          tell(job.id, studioEvent(event));
        },
      });
      store.finishJob(job.id, {
        status: result.error || result.exitCode !== 0 ? 'failed' : 'succeeded',
        dealId: result.dealId,
        cid: result.cid,
        dir: result.dir,
        stdout: result.stdout,
        exitCode: result.exitCode,
        ...(result.error ? { error: result.error } : result.exitCode !== 0 ? { error: `the job exited with code ${result.exitCode}` } : {}),
        lpPaid: result.price.toString(),
        // The provider ran it and was paid: a job that failed in its own code is still charged.
        refund: false,
      });
    } catch (error) {
      const message = isUserFacing(error) ? error.message : `the studio could not run the job: ${(error as Error)?.message ?? String(error)}`;
      store.finishJob(job.id, { status: 'failed', error: message, refund: !agreed });
    }
    ended(job.id);
  }


  return {
    start(userId, request, via, apiKeyId) {
      if (typeof request.module !== 'string' || request.module === '') {
        throw new UserInputError('module is required, for example "cowsay:v0.0.1"', { code: 'module-missing' });
      }
      const module = catalog.find(request.module);
      const inputs = checkInputs(module, request.inputs);
      const id = 'job_' + randomToken(12);
      if (!store.addJob({ id, userId, module: module.ref, inputs, credits: module.credits, via, ...(apiKeyId ? { apiKeyId } : {}) })) {
        const user = store.user(userId);
        throw new UserInputError(`${module.ref} costs ${module.credits} credit${module.credits === 1 ? '' : 's'} and you have ${user?.credits ?? 0}: add credits first`, {
          code: 'insufficient-credits',
        });
      }
      const job = store.job(id)!;
      waiting.push(job);
      startWaiting();
      return job;
    },
    follow(jobId, follower) {
      // Read and subscribe in one go (no await between): no event falls between the two.
      const job = store.job(jobId);
      if (!job) return () => undefined;
      for (const event of job.events) follower.onEvent(event as StudioJobEvent);
      if (job.status === 'succeeded' || job.status === 'failed') {
        follower.onEnd(job);
        return () => undefined;
      }
      const set = followers.get(jobId) ?? new Set<JobFollower>();
      set.add(follower);
      followers.set(jobId, set);
      return () => set.delete(follower);
    },
    async idle() {
      for (const job of waiting.splice(0)) {
        store.finishJob(job.id, { status: 'failed', error: 'the studio stopped before this job ran; its credits are back', refund: true });
        ended(job.id);
      }
      while (running.size > 0) await Promise.allSettled(running);
    },
  };
}

export interface ResultFile {
  path: string;
  size: number;
}

/** Every file of a result folder, relative paths in order (`stdout`, `stderr`, `exitCode`, `outputs/...`). */
export async function listResultFiles(dir: string): Promise<ResultFile[]> {
  const files: ResultFile[] = [];
  async function walk(relative: string): Promise<void> {
    const entries = await readdir(path.join(dir, relative), { withFileTypes: true }).catch(() => []);
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const child = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) files.push({ path: child, size: (await lstat(path.join(dir, child))).size });
    }
  }
  await walk('');
  return files;
}

/** The file at `relative` inside a result folder, or undefined: never a path outside it, never a link. */
export async function resultFilePath(dir: string, relative: string): Promise<string | undefined> {
  const root = path.resolve(dir);
  const full = path.resolve(root, relative);
  if (!full.startsWith(root + path.sep)) return undefined;
  const info = await lstat(full).catch(() => undefined);
  return info?.isFile() ? full : undefined;
}

const CONTENT_TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp',
  '.json': 'application/json', '.txt': 'text/plain; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
};

/**
 * The content type a result file is sent with. Anything not known to be an image or plain data is sent as
 * text or bytes, never as HTML: a result is the provider's output, and must not run as a page of the studio.
 */
export function resultFileType(relative: string): string {
  const extension = path.extname(relative).toLowerCase();
  return CONTENT_TYPES[extension] ?? (['stdout', 'stderr', 'exitCode', 'error'].includes(relative) ? 'text/plain; charset=utf-8' : 'application/octet-stream');
}

/** An image the job wrote to `outputs/`: the pages show it as an image, not only as a file to download. */
export function isShownImage(file: string): boolean {
  return file.startsWith('outputs/') && resultFileType(file).startsWith('image/');
}

/** A job as the API and the pages show it. */
export async function jobView(job: StudioJob, filesUrl: (path: string) => string) {
  const files = job.dir && job.status !== 'queued' && job.status !== 'running' ? await listResultFiles(job.dir) : [];
  return {
    id: job.id,
    module: job.module,
    inputs: job.inputs,
    status: job.status,
    credits: job.credits,
    refunded: job.refunded,
    createdAt: new Date(job.createdAt).toISOString(),
    ...(job.dealId ? { dealId: job.dealId } : {}),
    ...(job.cid ? { cid: job.cid } : {}),
    ...(job.stdout !== undefined ? { stdout: job.stdout } : {}),
    ...(job.exitCode !== undefined ? { exitCode: job.exitCode } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.lpPaid ? { lpPaid: job.lpPaid } : {}),
    files: files.map((file) => ({ ...file, url: filesUrl(file.path), ...(isShownImage(file.path) ? { image: true } : {}) })),
  };
}
