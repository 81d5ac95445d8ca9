/**
 * The studio as a person uses it, in Debian's headless Chromium (driven by playwright-core): sign up with a
 * password, run cowsay from its form and see the cow appear without a reload, create an API key and revoke
 * it. Screenshots of each page land in test/.screenshots/ for a person to look at. Skipped, loudly, where
 * /usr/bin/chromium is missing (CI installs it: .ci/run).
 */
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { chromiumMissing, openChromium, screenshot, type ChromiumProfile } from './chromium.js';
import { startTestStudio, type TestStudio } from './studio-helpers.js';

const skip = chromiumMissing("the studio's browser tests");

describe.skipIf(Boolean(skip))(`the studio in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let studio: TestStudio;
  let chrome: ChromiumProfile;
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => screenshot(page, name);

  beforeAll(async () => {
    studio = await startTestStudio();
    chrome = await openChromium({ width: 1200, height: 800 });
    ({ context, page } = chrome);
  });
  afterAll(async () => {
    await chrome?.close();
    await studio?.end();
  });

  it('signs a person up with a password, and shows their free credits in the header', async () => {
    await page.goto(studio.origin + '/');
    await shot('01-gallery-signed-out');
    await page.getByRole('link', { name: 'Get started free' }).click();
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    // The browser's own check stops a short password first; the page says what it needs.
    expect(await page.getByLabel('Password').evaluate((input: HTMLInputElement) => input.validity.tooShort)).toBe(true);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(studio.origin + '/');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('100 credits');
    await shot('02-gallery-signed-in');
    const cookies = await context.cookies();
    const session = cookies.find((cookie) => cookie.name === 'lilypad_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax' });
  });

  it('runs cowsay from its form and shows the cow without a reload', async () => {
    await page.getByRole('link', { name: 'Open' }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('cowsay');
    expect(await page.locator('.cost').textContent()).toBe('Costs 1 credit');
    // A marker on the window survives only if the page is never reloaded.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await page.getByLabel('Message').fill('moo');
    await page.getByRole('button', { name: 'Run cowsay' }).click();
    await page.locator('pre.stdout').waitFor({ timeout: 30_000 });
    expect(await page.locator('pre.stdout').textContent()).toBe(COWSAY_MOO);
    expect(await page.locator('ol.progress li').allTextContents()).toEqual([
      '🌟 Lilypad submitting job',
      '🤝 Job submitted. Negotiating deal...',
      '💌 Deal agreed. Running job...',
      '🏭 Results submitted. Awaiting verification...',
      '✅ Results accepted. Downloading result...',
    ]);
    expect(await page.locator('.cid').textContent()).toMatch(/^bafy/);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('99 credits');
    await shot('03-cowsay-result');

    // The file links download the result's files.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'stdout' }).click()]);
    const saved = path.join(chrome.profile, 'stdout');
    await download.saveAs(saved);
    expect((await import('node:fs')).readFileSync(saved, 'utf8')).toBe(COWSAY_MOO);

    await page.getByRole('link', { name: 'Jobs' }).click();
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator('tbody tr .status').textContent()).toBe('succeeded');
    await shot('04-jobs');
    await page.locator('tbody tr a').first().click();
    expect(await page.locator('pre.stdout').textContent()).toBe(COWSAY_MOO);
    await shot('05-job');
  });

  it('shows a module\'s typed inputs as their own controls, and the browser holds a value out of bounds', async () => {
    await page.getByRole('link', { name: 'Modules' }).click();
    await page.locator('.card.module', { hasText: 'Text completion' }).getByRole('link', { name: 'Open' }).click();
    const maxTokens = page.getByLabel('MaxTokens');
    expect(await maxTokens.evaluate((input: HTMLInputElement) => [input.type, input.min, input.max, input.step, input.value, input.required])).toEqual(['number', '1', '256', '1', '64', false]);
    expect(await page.getByLabel('Prompt').evaluate((input: HTMLTextAreaElement) => [input.tagName, input.required])).toEqual(['TEXTAREA', true]);
    expect(await page.getByLabel('Temperature').evaluate((input: HTMLInputElement) => [input.type, input.step, input.value])).toEqual(['number', 'any', '0.5']);
    await page.getByLabel('Prompt').fill('The lily');
    await maxTokens.fill('999');
    await page.getByRole('button', { name: 'Run llm' }).click();
    // Held by the browser's own check before anything is sent: no job starts, no credit moves.
    expect(await maxTokens.evaluate((input: HTMLInputElement) => input.validity.rangeOverflow)).toBe(true);
    expect(await page.locator('#job').isHidden()).toBe(true);
    await shot('05b-llm-form');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('99 credits');
  });

  it('creates an API key, shows it once, and revokes it', async () => {
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByLabel('Name').fill('my laptop');
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.locator('[data-new-key]').textContent())!;
    expect(key).toMatch(/^lp_[A-Za-z0-9_-]{43}$/);
    await shot('06-key-created');
    const account = () => fetch(studio.url + '/api/v1/account', { headers: { authorization: `Bearer ${key}` } }).then((r) => r.status);
    expect(await account()).toBe(200);

    // Shown once: the keys page no longer has it.
    await page.getByRole('link', { name: 'API keys' }).click();
    expect(await page.locator('[data-new-key]').count()).toBe(0);
    expect(await page.locator('tbody').textContent()).toContain(key.slice(0, 10));
    await page.getByRole('row', { name: /my laptop/ }).getByRole('button', { name: 'Revoke' }).click();
    expect(await page.getByRole('row', { name: /my laptop/ }).textContent()).toContain('revoked');
    expect(await account()).toBe(401);
    await shot('07-key-revoked');
  });

  it('follows a job that is still running on its own page, live', async () => {
    await page.getByRole('link', { name: 'Modules' }).click();
    await page.locator('.card.module', { hasText: 'spin' }).getByRole('link', { name: 'Open' }).click();
    // Enough rounds to be still running when its page opens.
    await page.getByLabel('Rounds').fill('800');
    await page.getByRole('button', { name: 'Run spin' }).click();
    await page.locator('[data-job-link]').filter({ hasText: /^job_/ }).waitFor();
    await page.locator('[data-job-link]').click();
    await page.waitForURL(/\/jobs\/job_/);
    expect(await page.locator('[data-status]').textContent()).toMatch(/^(queued|running)$/);
    await shot('08-job-running');
    await page.locator('pre.stdout').waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-status]').textContent()).toBe('succeeded');
    expect(await page.locator('ol.progress li').last().textContent()).toBe('✅ Results accepted. Downloading result...');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('97 credits');
  });

  it('shows credits and spending, and signs out', async () => {
    // The balance in the header opens the credits page.
    await page.locator('[data-credits]').click();
    expect(await page.locator('.balance').textContent()).toBe('97');
    expect(await page.locator('tbody').textContent()).toContain('job cowsay:v0.0.1');
    await page.getByRole('button', { name: 'Add 100 credits' }).click();
    expect(await page.locator('.notice.ok').textContent()).toBe('Added 100 credits.');
    expect(await page.locator('.balance').textContent()).toBe('197');
    await shot('09-credits');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.goto(studio.origin + '/jobs');
    expect(new URL(page.url()).pathname).toBe('/signin');
    await shot('10-signin');
  });
});
