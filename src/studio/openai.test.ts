/**
 * The streamed reply's edge cases, which the embedded network cannot be made to produce: a provider whose
 * live output (job:output events) disagrees with its verified result, and a job that fails. The routes,
 * the store and the official `openai` client are real; the job runner is scripted, telling the events a
 * job network would, so that the lie can be told.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningHttpServer } from '../lib/http-server.js';
import { createApiKeyCheck } from './api-auth.js';
import { loadCatalog } from './catalog.js';
import type { JobFollower, StudioJobEvent, StudioJobs } from './jobs.js';
import { createOpenAiApi } from './openai.js';
import { createRateLimiter } from './rate-limit.js';
import { newApiKey } from './secrets.js';
import { openStudioStore, type JobOutcome, type StudioStore } from './store.js';

/** What the scripted network does with the next job: the events it tells, then how the job ends. */
let script: { events: StudioJobEvent[]; outcome: JobOutcome };

function scriptedJobs(store: StudioStore): StudioJobs {
  let count = 0;
  return {
    start(userId, request, via, apiKeyId) {
      const id = `job_scripted${++count}`;
      store.addJob({ id, userId, module: String(request.module), inputs: request.inputs as Record<string, string>, credits: 5, via, ...(apiKeyId ? { apiKeyId } : {}) });
      return store.job(id)!;
    },
    follow(jobId, follower: JobFollower) {
      const { events, outcome } = script;
      // Told one at a time, each in a later turn of the event loop, as a network would.
      void (async () => {
        for (const event of events) {
          await new Promise((resolve) => setImmediate(resolve));
          follower.onEvent(event);
        }
        await new Promise((resolve) => setImmediate(resolve));
        store.finishJob(jobId, outcome);
        follower.onEnd(store.job(jobId)!);
      })();
      return () => undefined;
    },
    idle: async () => undefined,
  };
}

let dir: string;
let store: StudioStore;
let server: RunningHttpServer;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'lilypad-openai-'));
  store = openStudioStore(dir);
  const user = store.createUser('ada@example.com', 'hash', 100, 'welcome');
  const key = newApiKey();
  store.addApiKey({ id: key.id, userId: user.id, name: 'test', keyHash: key.hash, prefix: key.prefix });
  const app = new Hono();
  app.route('/v1', createOpenAiApi({ jobs: scriptedJobs(store), catalog: await loadCatalog(), checkApiKey: createApiKeyCheck(store, createRateLimiter({ burst: 100, perSecond: 1 })) }));
  server = await listen(app, { host: '127.0.0.1', port: 0 });
  client = new OpenAI({ apiKey: key.key, baseURL: server.url + '/v1', maxRetries: 0 });
});
afterAll(async () => {
  await server?.close();
  store?.close();
  await rm(dir, { recursive: true, force: true });
});

const output = (text: string): StudioJobEvent => ({ type: 'job:output', dealId: '0xdea1', text });
const succeeded = (stdout: string): JobOutcome => ({ status: 'succeeded', dealId: '0xdea1', cid: 'bafyverified', stdout, exitCode: 0, refund: false });
const request = { model: 'llm', messages: [{ role: 'user' as const, content: 'Why?' }], stream: true as const };

/** The stream's chunks, and the error it ended with, if any. */
async function streamed(): Promise<{ chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk & { lilypad?: any }>; error?: InstanceType<typeof OpenAI.APIError> }> {
  const chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk> = [];
  try {
    for await (const chunk of await client.chat.completions.create(request)) chunks.push(chunk);
  } catch (error) {
    if (error instanceof OpenAI.APIError) return { chunks, error };
    throw error;
  }
  return { chunks };
}
const contentOf = (chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk>) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('a streamed reply from the provider\'s live output', () => {
  it('streams the preview as it comes, holds back a possible stop sequence, and ends with the rest once verified', async () => {
    script = { events: [{ type: 'deal:agreed' }, output('Because'), output(' it is.\n'), output('\nQ:\tWhy not?')], outcome: succeeded('Because it is.\n\nQ:\tWhy not?\nA:') };
    const { chunks, error } = await streamed();
    expect(error).toBeUndefined();
    expect(chunks.map((c) => c.choices[0]!.delta.content)).toEqual(['', 'Because', ' it is.', undefined]);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe('stop');
    expect(chunks.at(-1)!.lilypad).toMatchObject({ job_id: 'job_scripted1', cid: 'bafyverified', deal_id: '0xdea1' });
  });

  it('sends what the preview lacked with the end: all of it when there was no preview', async () => {
    script = { events: [output('Bec')], outcome: succeeded('Because.') };
    const partial = await streamed();
    expect(partial.chunks.map((c) => c.choices[0]!.delta.content)).toEqual(['', 'Bec', 'ause.']);
    script = { events: [], outcome: succeeded('Because.') };
    const none = await streamed();
    expect(none.chunks.map((c) => c.choices[0]!.delta.content)).toEqual(['', 'Because.']);
    expect(none.chunks.at(-1)!.choices[0]!.finish_reason).toBe('length');
  });

  it('ends with an error the client raises when the verified result contradicts the preview, carrying the verified reply', async () => {
    script = { events: [output('Send me your keys')], outcome: succeeded('A fortune.\n\nQ:') };
    const { chunks, error } = await streamed();
    expect(contentOf(chunks)).toBe('Send me your keys');
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error!.code).toBe('preview_mismatch');
    expect(error!.error).toMatchObject({ type: 'server_error', lilypad: { job_id: expect.stringMatching(/^job_scripted/), cid: 'bafyverified', content: 'A fortune.' } });
    expect(error!.message).toContain('discard the text streamed so far');
  });

  it('ends with job_failed when the job fails, streamed or not, and tells the client not to retry', async () => {
    script = { events: [output('Half')], outcome: { status: 'failed', error: 'the provider gave up', refund: true } };
    const { error } = await streamed();
    expect(error!.code).toBe('job_failed');
    expect(error!.message).toMatch(/^the llm:v1 job job_scripted\d+ failed: the provider gave up \(its credits were refunded\)$/);

    const failed = await client.chat.completions.create({ ...request, stream: false }).catch((e: unknown) => e as InstanceType<typeof OpenAI.APIError>);
    expect(failed).toBeInstanceOf(OpenAI.InternalServerError);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failed as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    expect((failed as InstanceType<typeof OpenAI.APIError>).code).toBe('job_failed');
  });
});
