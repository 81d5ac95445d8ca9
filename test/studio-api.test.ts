/**
 * The studio's API as a program uses it: a real studio on 127.0.0.1 in front of a real embedded network; a
 * person signs up and creates a key on the web pages, then runs cowsay over the API and follows it by SSE.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

let studio: TestStudio;
let web: WebClient;
let key: string;

beforeAll(async () => {
  studio = await startTestStudio({ rateLimit: { burst: 20, perSecond: 0.2 } });
  web = new WebClient(studio.url);
  const signedUp = await web.signUp('ada@example.com', 'correct horse battery');
  expect(signedUp.status).toBe(303);
  expect(web.hasSession()).toBe(true);
  key = await web.createKey('tests');
});
afterAll(async () => {
  await studio?.end();
});

const api = (path: string, init: RequestInit = {}, withKey = key) =>
  fetch(studio.url + '/api/v1' + path, { ...init, headers: { ...(withKey ? { authorization: `Bearer ${withKey}` } : {}), 'content-type': 'application/json', ...init.headers } });
const credits = async () => ((await (await api('/account')).json()) as { credits: number }).credits;

describe('the studio API', () => {
  it('refuses a request without a key, or with an unknown one, with 401 and a JSON error', async () => {
    const none = await api('/account', {}, '');
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: { code: 'unauthenticated', message: expect.stringContaining('Authorization: Bearer') } });
    const route = await api('/nothing-here', { method: 'POST', body: '{}' });
    expect(route.status).toBe(404);
    expect(await route.json()).toEqual({ error: { code: 'not-found', message: 'no such API route: POST /api/v1/nothing-here' } });
    const unknown = await api('/account', {}, 'lp_not-a-key');
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as any).error.code).toBe('invalid-api-key');
  });

  it('gives a new account 100 free beta credits and lists the modules with their prices', async () => {
    expect(await credits()).toBe(100);
    const { modules } = (await (await api('/modules')).json()) as { modules: Array<{ ref: string; inputs: unknown[]; credits: number }> };
    expect(modules).toContainEqual(expect.objectContaining({ ref: 'cowsay:v0.0.1', inputs: [{ name: 'Message', type: 'string', description: 'What the cow says', required: true }], credits: 1 }));
  });

  it('refuses an unknown module, a missing input and a malformed body, and charges nothing', async () => {
    const unknown = await api('/jobs', { method: 'POST', body: JSON.stringify({ module: 'nosuch:v1', inputs: {} }) });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error).toEqual({ code: 'module-unknown', message: expect.stringContaining('cowsay:v0.0.1') });
    const missing = await api('/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: {} }) });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as any).error).toEqual({ code: 'input-invalid', message: 'Message: missing; it is required (What the cow says)' });
    const tooLarge = await api('/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'm'.repeat(1536 * 1024) } }) });
    expect(tooLarge.status).toBe(400);
    expect(((await tooLarge.json()) as any).error).toEqual({ code: 'input-too-large', message: expect.stringContaining('pass large data by CID') });
    const malformed = await api('/jobs', { method: 'POST', body: 'moo' });
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as any).error.code).toBe('body-malformed');
    expect(await credits()).toBe(100);
  });

  it('runs cowsay: POST /jobs, the progress events and the result over SSE, the result files, and the price off the credits', async () => {
    const posted = await api('/jobs', { method: 'POST', body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'moo' } }) });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    expect(id).toMatch(/^job_/);
    // Reserved as soon as the job is asked for.
    expect(await credits()).toBe(99);

    const stream = await api(`/jobs/${id}/events`);
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    const events = await readEvents(stream);
    const progress = events.filter((e) => e.event === 'progress').map((e) => e.data);
    expect(progress.map((e) => e.type).filter((type) => type !== 'job:output')).toEqual(['job:submitting', 'job:submitted', 'deal:agreed', 'results:submitted', 'results:accepted', 'results:downloaded']);
    // The job's stdout also came as it ran, with no line of its own; the result below is the checked one.
    expect(progress.filter((e) => e.type === 'job:output').every((e) => e.line === undefined)).toBe(true);
    expect(progress.filter((e) => e.type === 'job:output').map((e) => e.text).join('')).toBe(COWSAY_MOO);
    expect(progress[0].line).toBe('🌟 Lilypad submitting job');
    expect(progress[2]).toMatchObject({ type: 'deal:agreed', price: '1000000000000000000' });
    const result = events.at(-1)!;
    expect(result.event).toBe('result');
    expect(result.data).toMatchObject({ id, status: 'succeeded', stdout: COWSAY_MOO, exitCode: 0, credits: 1, refunded: false, lpPaid: '1000000000000000000' });
    expect(result.data.cid).toMatch(/^bafy/);

    const job = (await (await api(`/jobs/${id}`)).json()) as any;
    expect(job).toMatchObject({ status: 'succeeded', cid: result.data.cid, stdout: COWSAY_MOO });
    expect(job.files.map((f: { path: string }) => f.path)).toEqual(['exitCode', 'stderr', 'stdout']);
    const stdoutFile = job.files.find((f: { path: string }) => f.path === 'stdout');
    const download = await fetch(studio.url + stdoutFile.url, { headers: { authorization: `Bearer ${key}` } });
    expect(download.status).toBe(200);
    expect(await download.text()).toBe(COWSAY_MOO);
    expect(await credits()).toBe(99);
    // The ledger says where the credit went.
    expect(((await (await api('/account')).json()) as any).spent).toBe(1);
  });

  it('shows the images a job writes to outputs/ as images on its page, served as images that run no script', async () => {
    // The person's dataset, uploaded: the studio's IPFS node serves it to the provider.
    const uploaded = await fetch(`${studio.url}/api/v1/uploads?name=counting.txt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'text/plain' },
      body: 'one two three four five six seven eight nine ten\n'.repeat(20),
    });
    expect(uploaded.status).toBe(201);
    const datasetCid = ((await uploaded.json()) as { cid: string }).cid;

    const posted = await api('/jobs', { method: 'POST', body: JSON.stringify({ module: 'lora-training:v1', inputs: { DatasetCID: datasetCid, Steps: 2 } }) });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    const result = (await readEvents(await api(`/jobs/${id}/events`))).at(-1)!;
    expect(result.data).toMatchObject({ status: 'succeeded' });
    const plot = result.data.files.find((f: { path: string }) => f.path === 'outputs/loss.svg');
    expect(plot).toMatchObject({ image: true });
    // Only images are shown as images: the adapter is a file to download.
    expect(result.data.files.find((f: { path: string }) => f.path === 'outputs/lora.safetensors').image).toBeUndefined();

    const page = await (await web.fetch(`/jobs/${id}`)).text();
    expect(page).toContain(`<img src="/jobs/${id}/files/outputs/loss.svg" alt="outputs/loss.svg">`);
    const image = await web.fetch(`/jobs/${id}/files/outputs/loss.svg`);
    expect(image.headers.get('content-type')).toBe('image/svg+xml');
    // Opened on its own, the provider's SVG is a sandboxed document that runs nothing.
    expect(image.headers.get('content-security-policy')).toContain('sandbox');
    expect(await image.text()).toContain('<svg');
  });

  it('keeps jobs to their owner', async () => {
    const other = new WebClient(studio.url);
    await other.signUp('grace@example.com', 'another good password');
    const otherKey = await other.createKey('other');
    const [mine] = ((await (await api('/jobs')).json()) as any).jobs;
    const peek = await api(`/jobs/${mine.id}`, {}, otherKey);
    expect(peek.status).toBe(404);
    expect(((await peek.json()) as any).error.code).toBe('job-not-found');
  });

  it('answers 429 with Retry-After past the key\'s rate limit', async () => {
    const burstKey = await web.createKey('burst');
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 22; i++) {
      const response = await api('/modules', {}, burstKey);
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        expect(((await response.json()) as any).error.code).toBe('rate-limited');
      }
    }
    expect(statuses.slice(0, 20).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('stops accepting a key once it is revoked on the keys page', async () => {
    const doomed = await web.createKey('doomed');
    expect((await api('/account', {}, doomed)).status).toBe(200);
    const page = await (await web.fetch('/keys')).text();
    const keyId = new RegExp(`<tr data-key="(key_[^"]+)"><td>doomed</td>`).exec(page)![1];
    // Without the session's CSRF token the form is refused.
    expect((await web.post(`/keys/${keyId}/revoke`, {})).status).toBe(403);
    expect((await api('/account', {}, doomed)).status).toBe(200);
    expect((await web.post(`/keys/${keyId}/revoke`, { csrf: await web.csrfOf('/keys') })).status).toBe(303);
    const refused = await api('/account', {}, doomed);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as any).error.code).toBe('invalid-api-key');
  });

  it('slows down guessing: past 10 sign-in attempts for one email, 429 with Retry-After', async () => {
    const guesser = new WebClient(studio.url);
    const csrf = await guesser.csrfOf('/signin');
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await guesser.post('/signin', { csrf, email: 'target@example.com', password: `guess ${i}` })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    const refused = await guesser.post('/signin', { csrf, email: 'target@example.com', password: 'guess' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await refused.text()).toContain('Too many sign-in attempts for target@example.com');
  });

  it('signs a person out everywhere: every session of theirs ends', async () => {
    const laptop = new WebClient(studio.url);
    const signedIn = await laptop.post('/signin', { csrf: await laptop.csrfOf('/signin'), email: 'ada@example.com', password: 'correct horse battery' });
    expect(signedIn.status).toBe(303);
    const wrong = new WebClient(studio.url);
    expect((await wrong.post('/signin', { csrf: await wrong.csrfOf('/signin'), email: 'ada@example.com', password: 'not the password' })).status).toBe(401);
    expect((await laptop.fetch('/account.json')).status).toBe(200);
    expect((await web.post('/signout-everywhere', { csrf: await web.csrfOf('/credits') })).status).toBe(303);
    expect((await laptop.fetch('/account.json')).status).toBe(401);
    // API keys are not sessions: they go on working until revoked.
    expect((await api('/account')).status).toBe(200);
  });
});
