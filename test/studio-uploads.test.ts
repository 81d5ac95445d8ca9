/**
 * Data for people without a wallet or the CLI: files uploaded to a real studio (in front of a real embedded
 * network) over the API and from a module's form in Debian's headless Chromium go into the studio's
 * blockstore, under the CIDs `lilypad add` gives, and a lora-training job trains on them. Over the upload
 * limit is 413 with nothing kept; uploads are listed to their owner only. The browser part is skipped,
 * loudly, where /usr/bin/chromium is missing; its screenshots land in test/.screenshots/.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidOfBytes, cidOfDirectory } from '../src/storage/index.js';
import { chromiumMissing, openChromium, screenshot, type ChromiumProfile } from './chromium.js';
import { readEvents, startTestStudio, WebClient, type TestStudio } from './studio-helpers.js';

const MAX_UPLOAD_BYTES = 1024 * 1024;
const COUNTING = 'one two three four five six seven eight nine ten\n'.repeat(20);
const LETTERS = 'a b c d e f g h i j k l m n o p\n'.repeat(20);

let studio: TestStudio;
let web: WebClient;
let key: string;

beforeAll(async () => {
  studio = await startTestStudio({ maxUploadBytes: MAX_UPLOAD_BYTES });
  web = new WebClient(studio.url);
  expect((await web.signUp('ada@example.com', 'correct horse battery')).status).toBe(303);
  key = await web.createKey('tests');
});
afterAll(async () => {
  await studio?.end();
});

const api = (path: string, init: RequestInit = {}, withKey = key) =>
  fetch(studio.url + '/api/v1' + path, { ...init, headers: { ...(withKey ? { authorization: `Bearer ${withKey}` } : {}), ...init.headers } });
const myUploads = async (withKey = key) => ((await (await api('/uploads', {}, withKey)).json()) as { uploads: Array<{ cid: string; name: string; size: number }> }).uploads;
/** The studio's staging folder for uploads on their way in: empty once each upload is done or refused. */
const staged = async () => readdir(path.join(studio.dataDir, 'uploading')).catch(() => []);

describe('uploads over the API', () => {
  it('refuses a request without a key with 401, and keeps nothing', async () => {
    const posted = await api('/uploads?name=a.txt', { method: 'POST', body: 'hello' }, '');
    expect(posted.status).toBe(401);
    expect(((await posted.json()) as any).error.code).toBe('unauthenticated');
    expect((await api('/uploads', {}, '')).status).toBe(401);
    // The key is checked before any of the body is read: past the upload limit without a key is still 401.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(new Uint8Array(256 * 1024));
        controller.close();
      },
    });
    const unread = await api('/uploads?name=big.bin', { method: 'POST', body: chunks, duplex: 'half' } as RequestInit, '');
    expect(unread.status).toBe(401);
    expect(await myUploads()).toEqual([]);
  });

  it('adds a text file under the CID lilypad add gives it, and lora-training trains on it', async () => {
    const posted = await api('/uploads?name=counting.txt', { method: 'POST', body: COUNTING });
    expect(posted.status).toBe(201);
    const upload = (await posted.json()) as { cid: string; name: string; size: number };
    expect(upload).toEqual({ cid: (await cidOfBytes(new TextEncoder().encode(COUNTING))).toString(), name: 'counting.txt', size: COUNTING.length });
    expect(await myUploads()).toEqual([expect.objectContaining({ cid: upload.cid, name: 'counting.txt', size: COUNTING.length })]);
    expect(await staged()).toEqual([]);

    const job = await api('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ module: 'lora-training:v1', inputs: { DatasetCID: upload.cid, Steps: 2 } }) });
    expect(job.status).toBe(201);
    const { id } = (await job.json()) as { id: string };
    const result = (await readEvents(await api(`/jobs/${id}/events`))).at(-1)!;
    expect(result.data).toMatchObject({ status: 'succeeded' });
    expect(result.data.files.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(['outputs/loss.svg', 'outputs/lora.safetensors']));
  });

  it('makes a folder of several files in a multipart form, under the CID lilypad add gives that folder', async () => {
    const form = new FormData();
    form.append('file', new File([COUNTING], 'counting.txt'));
    form.append('file', new File([LETTERS], 'letters.txt'));
    const posted = await api('/uploads', { method: 'POST', body: form });
    expect(posted.status).toBe(201);
    const folder = await mkdtemp(path.join(os.tmpdir(), 'lilypad-upload-expected-'));
    await writeFile(path.join(folder, 'counting.txt'), COUNTING);
    await writeFile(path.join(folder, 'letters.txt'), LETTERS);
    const expected = (await cidOfDirectory(folder)).toString();
    await rm(folder, { recursive: true });
    expect(await posted.json()).toEqual({ cid: expected, name: '2 files: counting.txt, letters.txt', size: COUNTING.length + LETTERS.length });
    expect((await myUploads())[0]).toMatchObject({ cid: expected, name: '2 files: counting.txt, letters.txt' });
  });

  it('refuses an upload over the limit with 413, sent whole or in chunks, and keeps nothing', async () => {
    const before = await myUploads();
    const whole = await api('/uploads?name=big.bin', { method: 'POST', body: new Uint8Array(MAX_UPLOAD_BYTES + 1) });
    expect(whole.status).toBe(413);
    expect(await whole.json()).toEqual({ error: { code: 'upload-too-large', message: expect.stringContaining('uploads may be at most 1 MiB') } });
    // Without a length up front, the studio counts the bytes as they come.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(256 * 1024));
        controller.close();
      },
    });
    const chunked = await api('/uploads?name=big.bin', { method: 'POST', body: chunks, duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as any).error.code).toBe('upload-too-large');
    expect(await myUploads()).toEqual(before);
    expect(await staged()).toEqual([]);
    // The other routes keep their own limit: a job request is no upload.
    const job = await api('/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ module: 'cowsay:v0.0.1', inputs: { Message: 'm'.repeat(5 * 1024 * 1024) } }) });
    expect(job.status).toBe(413);
    expect(((await job.json()) as any).error.code).toBe('body-too-large');
  });

  it('refuses no file, a name that cannot be a folder entry, and two files of one name, and keeps nothing', async () => {
    const before = await myUploads();
    const empty = await api('/uploads', { method: 'POST', body: new FormData() });
    expect(empty.status).toBe(400);
    const dotDot = await api('/uploads?name=..', { method: 'POST', body: 'x' });
    expect(dotDot.status).toBe(400);
    expect(((await dotDot.json()) as any).error).toEqual({ code: 'upload-invalid', message: expect.stringContaining('".." is not a file name the studio can keep') });
    const twice = new FormData();
    twice.append('file', new File(['a'], 'same.txt'));
    twice.append('file', new File(['b'], 'same.txt'));
    const duplicate = await api('/uploads', { method: 'POST', body: twice });
    expect(duplicate.status).toBe(400);
    expect(((await duplicate.json()) as any).error.message).toContain('two files are named "same.txt"');
    expect(await myUploads()).toEqual(before);
    expect(await staged()).toEqual([]);
  });

  it('lists each person\'s uploads to them only, while anyone may use a CID (it names bytes that providers fetch anyway)', async () => {
    const other = new WebClient(studio.url);
    await other.signUp('grace@example.com', 'another good password');
    const otherKey = await other.createKey('other');
    const secret = await api('/uploads?name=grace.txt', { method: 'POST', body: 'grace\'s own words\n' }, otherKey);
    expect(secret.status).toBe(201);
    const { cid } = (await secret.json()) as { cid: string };
    expect((await myUploads(otherKey)).map((u) => u.name)).toEqual(['grace.txt']);
    expect((await myUploads()).map((u) => u.cid)).not.toContain(cid);
    expect((await (await web.fetch('/uploads')).text())).not.toContain(cid);
    expect((await (await other.fetch('/uploads')).text())).toContain(cid);
  });
});

describe('uploads from a module\'s form', () => {
  const postForm = async (fields: Record<string, string>, files: Record<string, File[]>, csrf?: string) => {
    const form = new FormData();
    form.append('csrf', csrf ?? (await web.csrfOf('/modules/lora-training')));
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    for (const [name, list] of Object.entries(files)) for (const file of list) form.append(name, file);
    return web.fetch('/jobs', { method: 'POST', body: form, headers: { accept: 'application/json' } });
  };

  it('refuses files for an input that takes no CID, and keeps nothing', async () => {
    const before = await myUploads();
    const notCid = await postForm({ module: 'lora-training:v1', 'input.Steps': '2' }, { 'upload.Steps': [new File(['x'], 'x.txt')] });
    expect(notCid.status).toBe(400);
    expect(((await notCid.json()) as any).error.message).toBe('Steps: files can be given only for an input that takes a CID (DatasetCID, WeightsCID)');
    expect(await myUploads()).toEqual(before);
  });

  it('runs on the chosen files in place of a CID left in the field', async () => {
    const other = (await myUploads()).find((upload) => upload.name === 'counting.txt')!;
    const posted = await postForm({ module: 'lora-training:v1', 'input.DatasetCID': other.cid, 'input.Steps': '1' }, { 'upload.DatasetCID': [new File([LETTERS], 'letters.txt')] });
    expect(posted.status).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    const letters = (await cidOfBytes(new TextEncoder().encode(LETTERS))).toString();
    expect((await myUploads())[0]).toMatchObject({ cid: letters, name: 'letters.txt' });
    const result = (await readEvents(await web.fetch(`/jobs/${id}/events`))).at(-1)!;
    expect(result.data).toMatchObject({ status: 'succeeded' });
    expect(await (await web.fetch(`/jobs/${id}`)).text()).toContain(`DatasetCID=${letters}`);
  });

  it('refuses files over the upload limit with 413, and keeps nothing', async () => {
    const before = await myUploads();
    const big = await postForm({ module: 'lora-training:v1' }, { 'upload.DatasetCID': [new File([new Uint8Array(MAX_UPLOAD_BYTES)], 'big.txt')] });
    expect(big.status).toBe(413);
    expect(((await big.json()) as any).error).toEqual({ code: 'upload-too-large', message: expect.stringContaining('uploads may be at most 1 MiB') });
    expect(await myUploads()).toEqual(before);
  });

  it('keeps no file that another site\'s form posts with a person\'s cookie (no CSRF token), and runs nothing', async () => {
    const before = await myUploads();
    const jobsBefore = ((await (await api('/jobs')).json()) as { jobs: unknown[] }).jobs.length;
    const forged = await postForm({ module: 'lora-training:v1', 'input.Steps': '2' }, { 'upload.DatasetCID': [new File([COUNTING], 'planted.txt')] }, 'not-the-token');
    expect(forged.status).toBe(403);
    expect(await myUploads()).toEqual(before);
    expect(((await (await api('/jobs')).json()) as { jobs: unknown[] }).jobs.length).toBe(jobsBefore);
  });
});

const skip = chromiumMissing("the studio's upload browser tests");

describe.skipIf(Boolean(skip))(`uploads in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let chrome: ChromiumProfile;
  let page: Page;
  const pageErrors: Error[] = [];

  beforeAll(async () => {
    chrome = await openChromium({ width: 1200, height: 900 });
    ({ page } = chrome);
    page.on('pageerror', (error) => pageErrors.push(error));
  });
  afterAll(async () => {
    await chrome?.close();
  });

  it('trains lora-training on two .txt files chosen on its form, and shows the loss plot', async () => {
    await page.goto(studio.origin + '/signup');
    await page.getByLabel('Email').fill('lin@example.com');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(studio.origin + '/');
    await page.goto(studio.origin + '/modules/lora-training');
    await page.locator('input[type=file][name="upload.DatasetCID"]').setInputFiles([
      { name: 'counting.txt', mimeType: 'text/plain', buffer: Buffer.from(COUNTING) },
      { name: 'letters.txt', mimeType: 'text/plain', buffer: Buffer.from(LETTERS) },
    ]);
    // The field beside the picker says the files take its place.
    expect(await page.getByLabel('DatasetCID').getAttribute('placeholder')).toBe('the chosen files');
    await page.getByLabel('Steps').fill('2');
    await screenshot(page, 'uploads-01-lora-training-form');
    await page.getByRole('button', { name: 'Run lora-training' }).click();
    const plot = page.locator('#job figure.output-image img[alt="outputs/loss.svg"]');
    await plot.waitFor({ timeout: 60_000 });
    expect(await page.locator('#job [data-status]').textContent()).toBe('succeeded');
    // The plot is drawn: the browser loaded it as an image.
    await expect.poll(() => plot.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    await screenshot(page, 'uploads-02-lora-training-result');

    // The two files became a folder, under the CID lilypad add gives it, listed as this person's.
    const folder = await mkdtemp(path.join(os.tmpdir(), 'lilypad-upload-expected-'));
    await writeFile(path.join(folder, 'counting.txt'), COUNTING);
    await writeFile(path.join(folder, 'letters.txt'), LETTERS);
    const expected = (await cidOfDirectory(folder)).toString();
    await rm(folder, { recursive: true });
    await page.goto(studio.origin + '/uploads');
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator(`tr[data-upload="${expected}"]`).textContent()).toContain('2 files: counting.txt, letters.txt');
    await screenshot(page, 'uploads-03-list');
    // The form offers it next time, to pick instead of uploading again.
    await page.goto(studio.origin + '/modules/lora-training');
    expect(await page.locator('#input-DatasetCID-uploads option').evaluateAll((options: HTMLOptionElement[]) => options.map((o) => o.value))).toEqual([expected]);
    expect(pageErrors).toEqual([]);
  });
});
