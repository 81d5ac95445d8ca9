/**
 * The OpenAI-compatible routes with the official `openai` npm client as the program: a real studio on
 * 127.0.0.1 in front of a real embedded network running the llm module. Models, completions (plain and
 * streamed), the OpenAI-shaped errors the client raises as its typed errors, and per-key daily caps
 * (also on the REST API, where concurrent requests must not overspend a cap).
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStudioStore } from '../src/studio/store.js';
import { newApiKey } from '../src/studio/secrets.js';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

let studio: TestStudio;
let web: WebClient;
let key: string;

/** A key for ada made straight in the studio's database (as `lilypad studio keys create` does), with an optional daily cap. */
function keyWithCap(name: string, dailyCap?: number): string {
  const store = openStudioStore(studio.dataDir);
  try {
    const user = store.userByEmail('ada@example.com')!;
    const made = newApiKey();
    store.addApiKey({ id: made.id, userId: user.id, name, keyHash: made.hash, prefix: made.prefix, ...(dailyCap !== undefined ? { dailyCap } : {}) });
    return made.key;
  } finally {
    store.close();
  }
}
// No retries: a test must see the first answer (the client would retry 429s and 5xx on its own).
const client = (apiKey = key) => new OpenAI({ apiKey, baseURL: studio.url + '/v1', maxRetries: 0 });
const rest = (path: string, init: RequestInit = {}, withKey = key) =>
  fetch(studio.url + '/api/v1' + path, { ...init, headers: { authorization: `Bearer ${withKey}`, 'content-type': 'application/json', ...init.headers } });
const credits = async () => ((await (await rest('/account')).json()) as { credits: number }).credits;

/** What the client raised, for assertions on its class and the OpenAI-shaped body. */
async function raised(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error;
    throw error;
  }
  throw new Error('the request succeeded, but it should have failed');
}

beforeAll(async () => {
  studio = await startTestStudio({ rateLimit: { burst: 100, perSecond: 0.01 } });
  web = new WebClient(studio.url);
  expect((await web.signUp('ada@example.com', 'correct horse battery')).status).toBe(303);
  key = await web.createKey('openai tests');
});
afterAll(async () => {
  await studio?.end();
});

const QUESTION = [{ role: 'system' as const, content: 'Fortunes, wise and short.' }, { role: 'user' as const, content: 'What is the meaning of life?' }];
const SETTINGS = { model: 'llm', messages: QUESTION, max_tokens: 40, temperature: 0.5, seed: 1 };

describe('the OpenAI-compatible API', () => {
  it('lists the chat models: llm by its name and by name:tag, and nothing that does not chat', async () => {
    const models = [];
    for await (const model of client().models.list()) models.push(model);
    expect(models.map((m) => m.id)).toEqual(['llm', 'llm:v1']);
    expect(models[0]).toMatchObject({ object: 'model', owned_by: 'lilypad', created: expect.any(Number) });
    expect((await client().models.retrieve('llm:v1')).id).toBe('llm:v1');
    const missing = await raised(client().models.retrieve('cowsay'));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing.error).toMatchObject({ type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  });

  let plain: OpenAI.Chat.Completions.ChatCompletion & { lilypad?: any };
  it('answers a chat completion from an llm job: the reply, usage from completion.json, and the ids to check it by', async () => {
    const before = await credits();
    const { data, response } = await client().chat.completions.create(SETTINGS).withResponse();
    plain = data;
    expect(plain).toMatchObject({ object: 'chat.completion', model: 'llm:v1', id: expect.stringMatching(/^chatcmpl-job_/) });
    expect(plain.created).toBeGreaterThan(1_700_000_000);
    const [choice] = plain.choices;
    expect(choice!.message.role).toBe('assistant');
    expect(choice!.message.content!.length).toBeGreaterThan(0);
    expect(['stop', 'length']).toContain(choice!.finish_reason);

    const { job_id: jobId, deal_id: dealId, cid } = plain.lilypad;
    expect(plain.id).toBe(`chatcmpl-${jobId}`);
    expect(response.headers.get('x-lilypad-job-id')).toBe(jobId);
    expect(response.headers.get('x-lilypad-result-cid')).toBe(cid);
    expect(response.headers.get('x-lilypad-deal-id')).toBe(dealId);
    expect(cid).toMatch(/^bafy/);
    expect(dealId).toMatch(/^0x[0-9a-f]{64}$/);

    // The job is the user's, with the template's prompt, and its completion.json agrees with the answer.
    const job = (await (await rest(`/jobs/${jobId}`)).json()) as any;
    expect(job).toMatchObject({ module: 'llm:v1', status: 'succeeded', cid, credits: 5 });
    expect(job.inputs).toMatchObject({ Prompt: 'Fortunes, wise and short.\n\nQ:\tWhat is the meaning of life?\nA:\t', MaxTokens: '40', Temperature: '0.5', Seed: '1' });
    const completion = (await (await rest(`/jobs/${jobId}/files/outputs/completion.json`)).json()) as any;
    expect(plain.usage).toEqual({ prompt_tokens: completion.tokens.prompt_used, completion_tokens: completion.tokens.completion, total_tokens: completion.tokens.prompt_used + completion.tokens.completion });
    expect(completion.tokens.completion).toBe(40);
    // The reply is the completion up to the template's stop sequence (a blank line, the end of a fortune).
    expect(completion.completion.startsWith(choice!.message.content)).toBe(true);
    expect(choice!.message.content).not.toContain('\n\n');
    expect(choice!.finish_reason).toBe(completion.completion.includes('\n\n') ? 'stop' : 'length');
    expect(await credits()).toBe(before - 5);

    // The same seed gives the same reply (and the very same result) again.
    const again = (await client().chat.completions.create(SETTINGS)) as typeof plain;
    expect(again.choices[0]!.message.content).toBe(choice!.message.content);
    expect(again.lilypad.cid).toBe(cid);
    expect(again.lilypad.job_id).not.toBe(jobId);
  });

  it('streams a completion as OpenAI chunks ending in [DONE], with usage when asked, and the same reply as unstreamed', async () => {
    const stream = await client().chat.completions.create({ ...SETTINGS, stream: true, stream_options: { include_usage: true } });
    const chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk & { lilypad?: any }> = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(content).toBe(plain.choices[0]!.message.content);
    const end = chunks.findIndex((c) => c.choices[0]?.finish_reason);
    expect(chunks[end]!.choices[0]!.finish_reason).toBe(plain.choices[0]!.finish_reason);
    expect(chunks[end]!.lilypad).toMatchObject({ cid: plain.lilypad.cid, job_id: expect.stringMatching(/^job_/) });
    // Usage comes in a last chunk of its own, with no choices; the others carry usage: null.
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: plain.usage });
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);

    // On the wire: Server-Sent Events of JSON, and [DONE] last.
    const raw = await fetch(studio.url + '/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...SETTINGS, stream: true }),
    });
    expect(raw.headers.get('content-type')).toContain('text/event-stream');
    const events = (await raw.text()).split('\n\n').filter((block) => block.startsWith('data: '));
    expect(events.at(-1)).toBe('data: [DONE]');
    const wireContent = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? '').join('');
    expect(wireContent).toBe(content);

    // The client's own stream helper puts the chunks back together into the same completion.
    const final = await client().chat.completions.stream(SETTINGS).finalChatCompletion();
    expect(final.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
    expect(final.choices[0]!.finish_reason).toBe(plain.choices[0]!.finish_reason);
  });

  it('streams chunks before the job ends, from the provider\'s live output, once the job network sends it', async () => {
    const stream = await client().chat.completions.create({ ...SETTINGS, max_tokens: 200, seed: 3, stop: [], stream: true });
    const chunks: Array<OpenAI.Chat.Completions.ChatCompletionChunk & { lilypad?: any }> = [];
    for await (const chunk of stream) chunks.push(chunk);
    // The chunk with the finish reason is the first that could only be written after the job ended (it
    // carries the verified result's CID): whatever content came before it was streamed while the job ran.
    const end = chunks.findIndex((c) => c.choices[0]?.finish_reason);
    const before = chunks.slice(0, end).map((c) => c.choices[0]!.delta.content ?? '').join('');
    const all = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    const jobId = chunks[end]!.lilypad.job_id;
    const job = (await (await rest(`/jobs/${jobId}`)).json()) as any;
    expect(all).toBe(job.stdout);
    const outputEvents = (await readEvents(await rest(`/jobs/${jobId}/events`))).filter((e) => e.event === 'progress' && e.data.type === 'job:output');
    // Live output: the provider previewed stdout while the job ran, each preview reached the client before
    // the job ended, and it was the verified text.
    expect(outputEvents.length).toBeGreaterThan(0);
    expect(before.length).toBeGreaterThan(0);
    expect(all.startsWith(before)).toBe(true);
  });

  it('refuses a wrong key and a revoked key with 401 in OpenAI\'s shape, raised as AuthenticationError', async () => {
    const wrong = await raised(client('lp_not-a-key').models.list());
    expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(wrong.status).toBe(401);
    expect(wrong.error).toEqual({ message: 'this API key is unknown or was revoked', type: 'invalid_request_error', param: null, code: 'invalid_api_key' });

    const doomed = await web.createKey('doomed');
    expect((await client(doomed).models.list()).data.length).toBe(2);
    const page = await (await web.fetch('/keys')).text();
    const keyId = /<tr data-key="(key_[^"]+)"><td>doomed<\/td>/.exec(page)![1];
    expect((await web.post(`/keys/${keyId}/revoke`, { csrf: await web.csrfOf('/keys') })).status).toBe(303);
    const revoked = await raised(client(doomed).chat.completions.create(SETTINGS));
    expect(revoked).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(revoked.code).toBe('invalid_api_key');
  });

  it('keeps chat replies to their owner', async () => {
    const other = new WebClient(studio.url);
    await other.signUp('grace@example.com', 'another good password');
    const peek = await other.fetch(`/chat/replies/${plain.lilypad.job_id}`);
    expect(peek.status).toBe(404);
    const own = (await (await web.fetch(`/chat/replies/${plain.lilypad.job_id}`)).json()) as any;
    expect(own).toMatchObject({ status: 'succeeded', reply: plain.choices[0]!.message.content, cid: plain.lilypad.cid, credits: 5 });
  });

  it('answers 429 rate_limit_exceeded past the key\'s rate limit, which it shares with the REST API', async () => {
    const burstKey = keyWithCap('burst');
    for (let i = 0; i < 99; i++) expect((await rest('/modules', {}, burstKey)).status).toBe(200);
    await client(burstKey).models.list();
    const limited = await raised(client(burstKey).models.list());
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect(limited.error).toEqual({ message: expect.stringContaining('too many requests with this key'), type: 'requests', param: null, code: 'rate_limit_exceeded' });
    expect(Number(limited.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('refuses bad parameters with 400 naming the parameter, and charges nothing', async () => {
    const before = await credits();
    const cases: Array<[Record<string, unknown>, string, unknown]> = [
      [{ temperature: 5 }, 'temperature', 'temperature must be a number from 0 to 2, not 5'],
      [{ max_tokens: 1000 }, 'max_tokens', 'max_tokens must be a whole number from 1 to 256, not 1000'],
      [{ max_tokens: undefined, max_completion_tokens: 0 }, 'max_completion_tokens', 'max_completion_tokens must be a whole number from 1 to 256, not 0'],
      [{ seed: -1 }, 'seed', 'seed must be a whole number from 0 to 2^53 - 1, not -1'],
      [{ n: 2 }, 'n', 'n must be 1: the studio writes one choice per request, not 2'],
      [{ messages: [] }, 'messages', 'messages must be a non-empty list, for example [{"role": "user", "content": "Hello"}]'],
      [{ messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] }, 'messages[0].role', 'messages[0].role "tool" is not supported: this model takes system, user and assistant messages (no tools or functions)'],
      [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }] }, 'messages[0].content[0]', 'messages[0].content[0]: this model reads text only (parts of type "text")'],
      [{ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] }, 'messages', "the last message must be the user's (it is a assistant message): the model writes the assistant's next reply"],
      [{ tools: [{ type: 'function', function: { name: 'f' } }] }, 'tools', 'tools is not supported by llm:v1: it is a small text model that samples with temperature only'],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', 'stop must be a non-empty string or a list of at most 4 of them'],
      [{ stream_options: { include_usage: true } }, 'stream_options', 'stream_options is only allowed with stream: true'],
      [{ messages: [{ role: 'user', content: 'm'.repeat(1536 * 1024) }] }, 'messages', expect.stringContaining('pass large data by CID')],
    ];
    for (const [change, param, message] of cases) {
      const error = await raised(client().chat.completions.create({ ...SETTINGS, ...change } as never));
      expect(error, param).toBeInstanceOf(OpenAI.BadRequestError);
      expect(error.error).toMatchObject({ type: 'invalid_request_error', param, message });
    }
    const unknown = await raised(client().chat.completions.create({ ...SETTINGS, model: 'gpt-4o' }));
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect(unknown.error).toMatchObject({ param: 'model', code: 'model_not_found', message: 'The model "gpt-4o" does not exist: the studio\'s chat models are llm, llm:v1' });
    // A body over the studio's limit is refused before it is read, in OpenAI's shape too.
    const huge = await raised(client().chat.completions.create({ ...SETTINGS, messages: [{ role: 'user', content: 'm'.repeat(5 * 1024 * 1024) }] }));
    expect(huge.status).toBe(413);
    expect(huge.error).toMatchObject({ type: 'invalid_request_error', code: 'body_too_large', message: expect.stringContaining('pass large data by CID') });
    const route = await fetch(studio.url + '/v1/embeddings', { method: 'POST', headers: { authorization: `Bearer ${key}` } });
    expect(route.status).toBe(404);
    expect(await route.json()).toEqual({ error: { message: expect.stringContaining('Unknown request URL: POST /v1/embeddings'), type: 'invalid_request_error', param: null, code: 'unknown_url' } });
    expect(await credits()).toBe(before);
  });
});

describe('per-key daily spending caps', () => {
  it('refuses a completion over the key\'s cap with 429 insufficient_quota before anything is reserved, and says when it resets', async () => {
    const capped = keyWithCap('capped', 7);
    const first = await client(capped).chat.completions.create({ ...SETTINGS, max_tokens: 4 });
    expect(first.choices[0]!.message.role).toBe('assistant');
    const before = await credits();
    const over = await raised(client(capped).chat.completions.create({ ...SETTINGS, max_tokens: 4 }));
    expect(over).toBeInstanceOf(OpenAI.RateLimitError);
    expect(over.headers?.get('x-should-retry')).toBe('false');
    expect(over.error).toEqual({
      message: "this API key's daily cap is 7 credits and it has spent 5 today (UTC); llm:v1 costs 5: wait for 00:00 UTC, or use a key with a higher cap",
      type: 'insufficient_quota',
      param: null,
      code: 'daily_cap_reached',
    });
    expect(await credits()).toBe(before);
    // The same account's other keys are not held back by this one's cap.
    expect((await rest('/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay', inputs: { Message: 'moo' } }) })).status).toBe(201);
    // Each job records the key that started it.
    const store = openStudioStore(studio.dataDir);
    try {
      expect(store.job(first.id.slice('chatcmpl-'.length))!.apiKeyId).toMatch(/^key_/);
      expect(store.spentTodayWithKey(store.job(first.id.slice('chatcmpl-'.length))!.apiKeyId!)).toBe(5);
    } finally {
      store.close();
    }
  });

  it('lets concurrent requests spend no more than the cap (REST API: 429 daily-cap-reached)', async () => {
    const capped = keyWithCap('concurrent', 3);
    const before = await credits();
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => rest('/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay', inputs: { Message: 'moo' } }) }, capped)),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 201, 201, 429, 429, 429, 429, 429]);
    const refused = (await answers.find((a) => a.status === 429)!.json()) as any;
    expect(refused.error.code).toBe('daily-cap-reached');
    expect(await credits()).toBe(before - 3);
  });

  it('takes a daily cap on the keys page and shows what the key spent of it today', async () => {
    const refused = await web.post('/keys', { csrf: await web.csrfOf('/keys'), name: 'bad cap', dailyCap: '2.5' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('A daily cap is a whole number of credits above 0 (or leave it empty for none), not “2.5”.');
    const page = await (await web.post('/keys', { csrf: await web.csrfOf('/keys'), name: 'web capped', dailyCap: '6' })).text();
    const made = /data-new-key>([^<]+)</.exec(page)![1]!;
    await client(made).chat.completions.create({ ...SETTINGS, max_tokens: 4 });
    const listed = await (await web.fetch('/keys')).text();
    expect(listed).toMatch(/<td>web capped<\/td><td><code>lp_[^<]+…<\/code><\/td>\s*<td>5 of 6 credits today<\/td>/);
    expect(listed).not.toContain('bad cap');
    expect((await raised(client(made).chat.completions.create({ ...SETTINGS, max_tokens: 4 }))).code).toBe('daily_cap_reached');
  });

  it('refuses a short balance with 429 insufficient_quota on the OpenAI routes', async () => {
    const poor = new WebClient(studio.url);
    await poor.signUp('poor@example.com', 'a long enough password');
    const poorKey = await poor.createKey('poor');
    const store = openStudioStore(studio.dataDir);
    try {
      const user = store.userByEmail('poor@example.com')!;
      // Spend the balance down to 4 credits, less than one llm job.
      expect(store.addJob({ id: 'job_spent', userId: user.id, module: 'cowsay:v0.0.1', inputs: { Message: 'moo' }, credits: user.credits - 4, via: 'api' })).toBe(true);
      store.finishJob('job_spent', { status: 'failed', error: 'made by the test', refund: false });
    } finally {
      store.close();
    }
    const short = await raised(client(poorKey).chat.completions.create(SETTINGS));
    expect(short).toBeInstanceOf(OpenAI.RateLimitError);
    expect(short.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota', message: 'llm:v1 costs 5 credits and you have 4: add credits first' });
  });
});
