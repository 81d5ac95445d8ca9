/**
 * The chat page as a person uses it, in Debian's headless Chromium (driven by playwright-core): sign up,
 * open Chat, ask, see the reply (live while the provider writes it, once the job network previews stdout;
 * then the verified reply with its cost and its job), ask again with the conversation carried along.
 * Screenshots land in test/.screenshots/. Skipped, loudly, where /usr/bin/chromium is missing.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStudioStore, type StudioJob } from '../src/studio/store.js';
import { chromiumMissing, openChromium, screenshot, type ChromiumProfile } from './chromium.js';
import { startTestStudio, type TestStudio } from './studio-helpers.js';

const skip = chromiumMissing("the studio's chat browser tests");

describe.skipIf(Boolean(skip))(`the chat page in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let studio: TestStudio;
  let chrome: ChromiumProfile;
  let context: BrowserContext;
  let page: Page;
  const shot = (name: string) => screenshot(page, name);
  const jobOf = (id: string): StudioJob => {
    const store = openStudioStore(studio.dataDir);
    try {
      return store.job(id)!;
    } finally {
      store.close();
    }
  };

  beforeAll(async () => {
    studio = await startTestStudio();
    chrome = await openChromium({ width: 1200, height: 860 });
    ({ context, page } = chrome);
  });
  afterAll(async () => {
    await chrome?.close();
    await studio?.end();
  });

  it('sends a signed-out visitor to sign in first', async () => {
    await page.goto(studio.origin + '/chat');
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/chat');
  });

  it('chats: each turn a verified llm job with the conversation as its prompt, its cost and a link to the job', async () => {
    await page.goto(studio.origin + '/signup');
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(studio.origin + '/');
    await page.getByRole('link', { name: 'Chat' }).click();
    await page.waitForURL(studio.origin + '/chat');
    expect(await page.locator('.chat-cost').textContent()).toContain('Each reply costs 5 credits');
    await shot('chat-01-empty');

    await page.getByLabel('Seed').fill('1');
    await page.getByLabel('Max tokens').fill('40');
    // Whether any reply text showed while the job still ran (the provider's live output).
    await page.evaluate(() => {
      const seen = window as unknown as { previewed: boolean };
      seen.previewed = false;
      new MutationObserver(() => {
        if (Array.from(document.querySelectorAll('.msg.assistant.pending .bubble')).some((b) => b.textContent !== '')) seen.previewed = true;
      }).observe(document.querySelector('[data-chat-log]')!, { subtree: true, childList: true, characterData: true });
    });
    await page.getByLabel('Message').fill('What is the meaning of life?');
    await page.getByLabel('Message').press('Enter');
    const first = page.locator('.msg.assistant').nth(0);
    await first.locator('.verified').waitFor({ timeout: 30_000 });

    const firstJob = jobOf((await first.getByRole('link', { name: /^job_/ }).textContent())!);
    expect(firstJob).toMatchObject({ module: 'llm:v1', status: 'succeeded', via: 'web', credits: 5 });
    // The declared default weights are filled in, as for any job.
    expect(firstJob.inputs).toMatchObject({ Prompt: 'Q:\tWhat is the meaning of life?\nA:\t', Seed: '1', MaxTokens: '40', Temperature: '0.5' });
    expect(Object.keys(firstJob.inputs).sort()).toEqual(['MaxTokens', 'Prompt', 'Seed', 'Temperature', 'WeightsCID']);
    const firstReply = firstJob.stdout!.split('\n\n')[0]!;
    expect(firstReply.length).toBeGreaterThan(0);
    expect(await first.locator('.bubble').textContent()).toBe(firstReply);
    expect(await first.locator('.cost').textContent()).toBe('5 credits');
    expect(await first.locator('.verified').getAttribute('title')).toBe(`Checked against the result CID ${firstJob.cid}`);
    expect(await page.locator('.msg.user .bubble').first().textContent()).toBe('What is the meaning of life?');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('95 credits');

    // The reply showed while the job ran: the provider's live output reached the page before the verified reply.
    expect(firstJob.events.filter((e) => e.type === 'job:output').length).toBeGreaterThan(0);
    expect(await page.evaluate(() => (window as unknown as { previewed: boolean }).previewed)).toBe(true);

    // The second turn carries the first: the template's Q:/A: turns.
    await page.getByLabel('Message').fill('And then?');
    await page.getByRole('button', { name: 'Send' }).click();
    const second = page.locator('.msg.assistant').nth(1);
    await second.locator('.verified').waitFor({ timeout: 30_000 });
    const secondJob = jobOf((await second.getByRole('link', { name: /^job_/ }).textContent())!);
    expect(secondJob.inputs.Prompt).toBe(`Q:\tWhat is the meaning of life?\nA:\t${firstReply}\n\nQ:\tAnd then?\nA:\t`);
    expect(await second.locator('.bubble').textContent()).toBe(secondJob.stdout!.split('\n\n')[0]);
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('90 credits');
    await shot('chat-02-conversation');

    // The job link opens the job with its result.
    const [jobPage] = await Promise.all([context.waitForEvent('page'), second.getByRole('link', { name: /^job_/ }).click()]);
    await jobPage.locator('pre.stdout').waitFor();
    expect(await jobPage.locator('pre.stdout').textContent()).toBe(secondJob.stdout);
    await jobPage.close();
  });

  it('refuses a turn without the session\'s CSRF token, and a bad setting with a clear message, charging nothing', async () => {
    const forged = await page.evaluate(async () => {
      const response = await fetch('/chat', { method: 'POST', body: new URLSearchParams({ model: 'llm', messages: '[{"role":"user","content":"hi"}]' }) });
      return response.status;
    });
    expect(forged).toBe(403);
    await page.getByLabel('Max tokens').fill('999');
    await page.getByLabel('Message').fill('Too long?');
    await page.getByLabel('Message').press('Enter');
    await page.locator('.msg.failed').waitFor();
    expect(await page.locator('.msg.failed .bubble').textContent()).toBe('max_tokens must be a whole number from 1 to 256, not 999');
    expect(await page.locator('.msg.failed .msg-meta').textContent()).toBe('');
    expect(await page.locator('[data-credits]').textContent()).toBe('90 credits');
    await shot('chat-03-refused');
  });
});
