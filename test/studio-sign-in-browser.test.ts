/**
 * Passkeys and provider sign-in in Debian's headless Chromium: passkeys through Chromium's virtual
 * authenticator (CDP WebAuthn domain, ctap2, internal, resident keys, user verification), the provider a real
 * oidc-provider on 127.0.0.1. Sign up with a passkey, sign out, sign in with it; another browser without the
 * passkey cannot; a captured assertion replayed is refused (its challenge is spent, and were it open again,
 * the signature counter has moved on); the page says why passkeys do not work when it is
 * opened at 127.0.0.1 instead of the configured origin; a password account adds a passkey and removes it;
 * "Sign in with Test ID" ends signed in. A session cookie planted before each sign-in is not the one after.
 * Screenshots land in test/.screenshots/.
 */
import Database from 'better-sqlite3';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { challengeId, preSessionBinding } from '../src/studio/sign-in.js';
import { studioDbPath } from '../src/studio/store.js';
import { chromiumMissing, launchChromium, screenshot } from './chromium.js';
import { freePort, startTestProvider, studioOidcSettings, TEST_CLIENT, type TestProvider } from './oidc-test-provider.js';
import { startTestStudio, studioTestEnv, WebClient, type TestStudio } from './studio-helpers.js';

const skip = chromiumMissing("the studio's sign-in browser tests");

describe.skipIf(Boolean(skip))(`passkeys and provider sign-in in a browser${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let studio: TestStudio;
  let provider: TestProvider;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    const issuerPort = await freePort();
    studio = await startTestStudio({
      env: { ...studioTestEnv(''), ...studioOidcSettings(issuerPort) },
    });
    provider = await startTestProvider({
      port: issuerPort,
      client: { ...TEST_CLIENT, redirectUri: `${studio.origin}/auth/oidc/callback` },
      accounts: { alice: { password: 'alice-pw', email: 'alice@example.com', emailVerified: true } },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await provider?.stop();
    await studio?.end();
  });

  /** A browser profile of its own, with a virtual platform authenticator (a phone's or laptop's passkeys). */
  const newBrowser = async (): Promise<{ context: BrowserContext; page: Page; authenticator: { cdp: CDPSession; id: string } }> => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
    contexts.push(context);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    return { context, page, authenticator: { cdp, id: authenticatorId } };
  };
  const credentialsOf = async (authenticator: { cdp: CDPSession; id: string }) => (await authenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator.id })).credentials;
  const shot = screenshot;
  const plantSession = (context: BrowserContext) => context.addCookies([{ name: 'lilypad_session', value: 'planted-by-someone-else', url: studio.origin }]);
  const sessionCookie = async (context: BrowserContext) => (await context.cookies(studio.origin)).find((c) => c.name === 'lilypad_session')?.value;
  const signOut = (page: Page) => page.getByRole('button', { name: 'Sign out', exact: true }).click();

  let first: Awaited<ReturnType<typeof newBrowser>>;
  let capturedAssertion: string | undefined;

  it('shows passkey and provider buttons on the sign-in and sign-up pages', async () => {
    first = await newBrowser();
    const { page } = first;
    await page.goto(studio.origin + '/signin');
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isEnabled()).toBe(true);
    expect(await page.getByRole('link', { name: 'Sign in with Test ID' }).isVisible()).toBe(true);
    await shot(page, '20-signin-methods');
    await page.goto(studio.origin + '/signup');
    expect(await page.getByRole('button', { name: 'Sign up with a passkey' }).isEnabled()).toBe(true);
    expect(await page.getByRole('link', { name: 'Sign up with Test ID' }).isVisible()).toBe(true);
    await shot(page, '21-signup-methods');
  });

  it('signs up with an email and a passkey, no password, in a new session', async () => {
    const { page, context, authenticator } = first;
    await plantSession(context);
    await page.goto(studio.origin + '/signup');
    // Without an email the page asks for one first.
    await page.getByRole('button', { name: 'Sign up with a passkey' }).click();
    expect(await page.locator('[data-passkey-message]').textContent()).toBe('Enter your email first: your account is made for it.');
    await page.getByLabel('Email').fill('pat@example.com');
    await page.getByRole('button', { name: 'Sign up with a passkey' }).click();
    await page.waitForURL(studio.origin + '/');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('100 credits');
    expect(await page.locator('header .email').textContent()).toBe('pat@example.com');
    expect(await credentialsOf(authenticator)).toHaveLength(1);
    expect((await credentialsOf(authenticator))[0]!.isResidentCredential).toBe(true);
    expect(await sessionCookie(context)).not.toBe('planted-by-someone-else');
  });

  it('signs out, then in with the passkey alone (no email typed), in a new session', async () => {
    const { page, context } = first;
    await signOut(page);
    await plantSession(context);
    await page.goto(studio.origin + '/signin');
    page.on('request', (request) => {
      if (request.url().endsWith('/auth/passkey/signin/verify')) capturedAssertion = request.postData() ?? undefined;
    });
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(studio.origin + '/');
    expect(await page.locator('header .email').textContent()).toBe('pat@example.com');
    expect(await sessionCookie(context)).not.toBe('planted-by-someone-else');
    expect(capturedAssertion).toContain('"authenticatorData"');
  });

  it('refuses a captured assertion replayed, from anywhere', async () => {
    const attacker = new WebClient(studio.url);
    const csrf = await attacker.csrfOf('/signin');
    const replay = (body: string) => attacker.fetch('/auth/passkey/signin/verify', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-csrf-token': csrf } });
    const replayed = await replay(capturedAssertion!);
    expect(replayed.status).toBe(400);
    expect((await replayed.json()).error.code).toBe('passkey-challenge-unknown');
    // Nor after asking for a challenge of its own: the assertion signed the old one.
    await attacker.fetch('/auth/passkey/signin/options', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf } });
    expect((await replay(capturedAssertion!)).status).toBe(400);

    // Even with its challenge open again for this browser (written straight into the studio's database), the
    // signature counter has moved past it.
    const clientData = JSON.parse(Buffer.from(JSON.parse(capturedAssertion!).response.response.clientDataJSON, 'base64url').toString());
    const db = new Database(studioDbPath(studio.dataDir));
    db.prepare('INSERT INTO auth_challenges (id, kind, binding, data, expires_at) VALUES (?, ?, ?, ?, ?)').run(
      challengeId(clientData.challenge), 'signin', preSessionBinding(attacker.cookie('lilypad_csrf')!), JSON.stringify({ challenge: clientData.challenge }), Date.now() + 60_000,
    );
    db.close();
    const counted = await replay(capturedAssertion!);
    expect(counted.status).toBe(401);
    expect((await counted.json()).error.message).toMatch(/counter/i);
    expect(attacker.hasSession()).toBe(false);
  });

  it('lists the passkey on the security page, and will not remove the only way in', async () => {
    const { page } = first;
    await page.locator('header .email').click();
    await page.waitForURL(studio.origin + '/account/security');
    expect(await page.locator('tr[data-passkey]').count()).toBe(1);
    // The same device cannot register a second passkey for the account.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await expect.poll(() => page.locator('[data-passkey-message]').textContent()).toBe('This device already holds a passkey for this account.');
    await shot(page, '22-security');
    await page.getByRole('button', { name: 'Remove' }).click();
    expect(await page.locator('.notice.error:not([data-passkey-message])').textContent()).toContain('This passkey is the only way into your account');
    expect(await page.locator('tr[data-passkey]').count()).toBe(1);
    await signOut(page);
  });

  it('says why passkeys do not work on a page opened at 127.0.0.1, instead of failing', async () => {
    const { page } = first;
    await page.goto(studio.url + '/signin');
    expect(await page.locator('[data-passkey-message]').textContent()).toBe(
      `Passkeys for this studio belong to ${studio.origin}, but this page is open at ${studio.url}, so your browser would refuse them here. Open ${studio.origin}/signin`,
    );
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isDisabled()).toBe(true);
    await shot(page, '23-signin-wrong-origin');
    // Its link leads to the same page at the right origin, where the passkey works.
    await page.getByRole('link', { name: `Open ${studio.origin}/signin` }).click();
    await page.waitForURL(studio.origin + '/signin');
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isEnabled()).toBe(true);
  });

  it('cannot sign in with a passkey from a browser that does not hold it', async () => {
    const { page } = await newBrowser();
    await page.goto(studio.origin + '/signin');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.locator('[data-passkey-message]').textContent(), { timeout: 90_000 }).toMatch(/closed or timed out|not registered/);
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(await page.locator('header .email').count()).toBe(0);
  });

  it('adds a passkey to a password account, signs in with it, and removes it', async () => {
    const { page, context, authenticator } = await newBrowser();
    await page.goto(studio.origin + '/signup');
    await page.getByLabel('Email').fill('quinn@example.com');
    await page.getByLabel('Password').fill('quinn password 123');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.waitForURL(studio.origin + '/');
    await page.goto(studio.origin + '/account/security');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(/\/account\/security\?notice=/);
    expect(await page.locator('.notice.ok').textContent()).toBe('Passkey added. You can sign in with it now.');
    expect(await page.locator('tr[data-passkey]').count()).toBe(1);
    expect(await credentialsOf(authenticator)).toHaveLength(1);

    await signOut(page);
    await plantSession(context);
    await page.goto(studio.origin + '/signin');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.waitForURL(studio.origin + '/');
    expect(await page.locator('header .email').textContent()).toBe('quinn@example.com');
    expect(await sessionCookie(context)).not.toBe('planted-by-someone-else');

    // With a password left, the passkey can go; it then signs nobody in.
    await page.goto(studio.origin + '/account/security');
    await page.getByRole('button', { name: 'Remove' }).click();
    expect(await page.locator('.notice.ok').textContent()).toBe('Passkey removed: it no longer signs you in.');
    expect(await page.locator('tr[data-passkey]').count()).toBe(0);
    await signOut(page);
    await page.goto(studio.origin + '/signin');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => page.locator('[data-passkey-message]').textContent()).toContain('This passkey is not registered with the studio');
  });

  it('signs in with the provider: its login and consent pages, back to the studio signed in, in a new session', async () => {
    const { page, context } = await newBrowser();
    await plantSession(context);
    await page.goto(studio.origin + '/signin');
    await page.getByRole('link', { name: 'Sign in with Test ID' }).click();
    await page.waitForURL(/127\.0\.0\.1:\d+\/interaction\//);
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('alice-pw');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(studio.origin + '/');
    expect(await page.locator('header .email').textContent()).toBe('alice@example.com');
    await expect.poll(() => page.locator('[data-credits]').textContent()).toBe('100 credits');
    expect(await sessionCookie(context)).not.toBe('planted-by-someone-else');
    await page.goto(studio.origin + '/account/security');
    expect(await page.locator('table').last().textContent()).toContain('Linked');
    await shot(page, '24-security-provider');
  });
});
