/** What the API and the web app share about a job: its event stream (SSE) and its result files. */
import { readFile } from 'node:fs/promises';
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { jobView, resultFilePath, resultFileType, type StudioJobEvent, type StudioJobs } from './jobs.js';
import type { StudioJob } from './store.js';

/**
 * Server-Sent Events: a `progress` event for each of the job's progress events (those so far, then each
 * new one), then one `result` event with the job as `GET .../jobs/:id` shows it, and the stream ends.
 */
export function followJobEvents(c: Context, jobs: StudioJobs, jobId: string, filesUrl: (path: string) => string) {
  return streamSSE(c, async (stream) => {
    const pending: Array<{ event: string; data: string }> = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const push = (message: { event: string; data: string }) => {
      pending.push(message);
      wake?.();
    };
    const stop = jobs.follow(jobId, {
      onEvent: (event: StudioJobEvent) => push({ event: 'progress', data: JSON.stringify(event) }),
      onEnd: (job: StudioJob) => {
        void jobView(job, filesUrl).then((view) => {
          push({ event: 'result', data: JSON.stringify(view) });
          ended = true;
          wake?.();
        });
      },
    });
    stream.onAbort(() => {
      stop();
      ended = true;
      wake?.();
    });
    let id = 0;
    for (;;) {
      while (pending.length > 0) {
        const message = pending.shift()!;
        await stream.writeSSE({ ...message, id: String(++id) });
      }
      if (ended || stream.aborted) break;
      // A comment now and then while a job is quiet, so that proxies do not close the stream as idle.
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), SSE_KEEP_ALIVE_MS);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = undefined;
      if (!woken && pending.length === 0 && !ended) await stream.write(': keep-alive\n\n');
    }
    stop();
  });
}

const SSE_KEEP_ALIVE_MS = 15_000;

/** A file of the job's result folder (the route's `*` part), or undefined when there is none by that path. */
export async function sendResultFile(c: Context, job: StudioJob): Promise<Response | undefined> {
  if (!job.dir) return undefined;
  const prefix = `/jobs/${job.id}/files/`;
  const at = c.req.path.indexOf(prefix);
  if (at < 0) return undefined;
  let relative: string;
  try {
    relative = c.req.path.slice(at + prefix.length).split('/').map(decodeURIComponent).join('/');
  } catch {
    return undefined; // malformed percent-encoding names no file
  }
  const file = await resultFilePath(job.dir, relative);
  if (!file) return undefined;
  return new Response(await readFile(file), {
    headers: { 'content-type': resultFileType(relative), 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox" },
  });
}
