/**
 * The network dashboard as a person sees it, in Debian's headless Chromium (driven by playwright-core): run
 * cowsay in the studio, open the dashboard and see the job's deal (its id, the provider, the price) and the
 * provider's offer; then a second job shows up on the open page without a reload. Screenshots land in
 * test/.screenshots/. Skipped, loudly, where /usr/bin/chromium is missing.
 */
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COWSAY_MOO } from '../src/executor/conformance.js';
import { EMBEDDED_JOB_PRICE } from '../src/network/embedded.js';
import { lp } from '../src/studio/dashboard.js';
import { chromiumMissing, openChromium, screenshot, type ChromiumProfile } from './chromium.js';
import { startTestStudio, type TestStudio } from './studio-helpers.js';

const skip = chromiumMissing("the dashboard's browser tests");

describe.skipIf(Boolean(skip))(`the network dashboard in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let studio: TestStudio;
  let chrome: ChromiumProfile;
  let context: BrowserContext;
  let page: Page;
  let provider: string;
  const shot = screenshot;

  beforeAll(async () => {
    studio = await startTestStudio();
    provider = (await (await studio.network).market.solver.listResourceOffers()).items.map((o) => (o.offer as { terms: { resourceProvider: string } }).terms.resourceProvider)[0]!;
    chrome = await openChromium({ width: 1200, height: 800 });
    ({ context, page } = chrome);
  });
  afterAll(async () => {
    await chrome?.close();
    await studio?.end();
  });

  /** Runs cowsay from its form on `on` and returns the deal id of its job, from the job's own events. */
  async function runCowsay(on: Page, message: string): Promise<string> {
    await on.goto(studio.origin + '/modules/cowsay');
    await on.getByLabel('Message').fill(message);
    await on.getByRole('button', { name: 'Run cowsay' }).click();
    await on.locator('pre.stdout').waitFor({ timeout: 30_000 });
    const jobId = (await on.locator('[data-job-link]').textContent())!;
    // The job's result event names its deal.
    const stream = await on.evaluate((id) => fetch(`/jobs/${id}/events`).then((r) => r.text()), jobId);
    const result = JSON.parse(/event: result\ndata: (.*)\n/.exec(stream)![1]!) as { dealId: string };
    return result.dealId;
  }

  it('shows the deal of a job run in the studio, its provider and price, and the provider\'s offer', async () => {
    // An empty network first: the page says so rather than showing empty tables.
    await page.goto(studio.origin + '/dashboard');
    expect(await page.locator('[data-stat="jobs-done"] .value').textContent()).toBe('0');
    expect(await page.locator('[data-offers] tbody tr').count()).toBe(1);
    await shot(page, 'dashboard-01-empty');

    await page.goto(studio.origin + '/signup');
    await page.getByLabel('Email').fill('lin@example.com');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(studio.origin + '/');
    const dealId = await runCowsay(page, 'moo');
    expect(await page.locator('pre.stdout').textContent()).toBe(COWSAY_MOO);

    await page.getByRole('link', { name: 'Network' }).click();
    await page.waitForURL(studio.origin + '/dashboard');
    const row = page.locator(`[data-deal="${dealId}"]`);
    await expect.poll(() => row.locator('[data-state]').getAttribute('data-state'), { timeout: 20_000 }).toBe('results-accepted');
    expect(await row.locator('code').first().getAttribute('title')).toBe(dealId);
    expect(await row.locator('code').first().textContent()).toBe(`${dealId.slice(0, 10)}…`);
    expect(await row.locator('code.addr').getAttribute('title')).toBe(provider);
    expect(await row.locator('[data-price]').textContent()).toBe(lp(EMBEDDED_JOB_PRICE));
    expect(await row.textContent()).toContain('cowsay:v0.0.1');
    const offer = page.locator('[data-offers] tbody tr');
    expect(await offer.count()).toBe(1);
    expect(await offer.locator('code.addr').getAttribute('title')).toBe(provider);
    expect(await offer.locator('[data-price]').textContent()).toBe('1 LP');
    expect(await page.locator(`[data-provider="${provider.toLowerCase()}"] [data-jobs-done]`).textContent()).toMatch(/^1of 1 deal$/);
    await shot(page, 'dashboard-02-one-job');
  });

  it('updates without a reload when a second job runs', async () => {
    await page.goto(studio.origin + '/dashboard');
    // A marker on the window survives only if the page is never reloaded.
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    expect(await page.locator('[data-deals] tbody tr').count()).toBe(1);

    // The second job runs in another tab, as another person might.
    const other = await context.newPage();
    const second = await runCowsay(other, 'baa');
    await other.close();

    await page.locator(`[data-deal="${second}"]`).waitFor({ timeout: 20_000 });
    await expect.poll(() => page.locator('[data-stat="jobs-done"] .value').textContent(), { timeout: 20_000 }).toBe('2');
    expect(await page.locator('[data-deals] tbody tr').count()).toBe(2);
    expect(await page.locator('[data-deals] tbody tr').first().getAttribute('data-deal')).toBe(second);
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    expect(await page.locator('[data-live]').textContent()).toBe('Live');
    // Two bars in the prices chart, one per deal.
    expect(await page.locator('[data-chart="prices"] rect').count()).toBe(2);
    await shot(page, 'dashboard-03-live');
    await page.setViewportSize({ width: 420, height: 900 });
    await shot(page, 'dashboard-04-narrow');
    await page.setViewportSize({ width: 1200, height: 800 });
  });
});
