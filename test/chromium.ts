/**
 * Debian's Chromium for the studio's browser tests (through playwright-core, which downloads no browser):
 * whether it is here, a headless browser kept off the network, and screenshots in test/.screenshots/ for a
 * person to look at.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
/** The flags keep Chromium off the network it would otherwise call home on (refused here, slow everywhere). */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const SCREENSHOTS = fileURLToPath(new URL('./.screenshots/', import.meta.url));

/** Why `tests` cannot run here (said loudly on stderr), or undefined when Chromium is installed. */
export function chromiumMissing(tests: string): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `${CHROMIUM} is missing: apt-get install -y chromium`;
  process.stderr.write(`WARNING: ${tests} are skipped: ${reason}\n`);
  return reason;
}

/** A headless Chromium; each test makes the contexts it needs. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

export interface ChromiumProfile {
  context: BrowserContext;
  page: Page;
  /** The profile's folder (downloads land here). */
  profile: string;
  /** Closes the browser and removes the profile. */
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile of its own and one page open (Playwright's default viewport unless given). */
export async function openChromium(viewport?: { width: number; height: number }): Promise<ChromiumProfile> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'lilypad-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, ...(viewport ? { viewport } : {}) });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    profile,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** A whole-page screenshot as test/.screenshots/NAME.png. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
