/**
 * Signing in to the studio with an OpenID Connect provider, against a real provider (oidc-provider) on
 * 127.0.0.1, as plain HTTP: a new account, the same account again, linking a password account by its
 * verified email, and every way it can go wrong ending on a page that says why, with nobody signed in to an
 * account that is not theirs: the provider down, consent denied, a wrong or replayed state, a replayed code,
 * a flow finished in another browser, an expired flow, an unverified email.
 */
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestProvider, studioOidcSettings, TEST_CLIENT, visitProvider, type TestProvider } from './oidc-test-provider.js';
import { startTestStudio, studioTestEnv, WebClient, type TestStudio } from './studio-helpers.js';

const ACCOUNTS = {
  alice: { password: 'alice-pw', email: 'alice@example.com', emailVerified: true },
  bob: { password: 'bob-pw', email: 'bob@example.com', emailVerified: true },
  mallory: { password: 'mallory-pw', email: 'carol@example.com', emailVerified: false },
  nomail: { password: 'nomail-pw' },
};

describe('sign-in with an OpenID Connect provider', () => {
  let studio: TestStudio;
  let provider: TestProvider | undefined;
  let issuerPort: number;
  let callbackUrl: string;

  beforeAll(async () => {
    issuerPort = await freePort();
    studio = await startTestStudio({
      env: { ...studioTestEnv(''), ...studioOidcSettings(issuerPort) },
    });
    callbackUrl = `${studio.origin}/auth/oidc/callback`;
  });
  afterAll(async () => {
    await provider?.stop();
    await studio?.end();
  });

  /** Starts a sign-in at the studio and returns the provider's authorization URL it sends the browser to. */
  const startAt = async (client: WebClient) => {
    const started = await client.fetch('/auth/oidc/start');
    expect(started.status).toBe(303);
    return started.headers.get('location')!;
  };
  /** The whole round trip, up to the URL the provider sends the browser back to. */
  const codeFor = async (client: WebClient, username: keyof typeof ACCOUNTS, decision: 'allow' | 'deny' = 'allow') =>
    visitProvider(await startAt(client), { username, password: ACCOUNTS[username].password, decision }, callbackUrl);
  const land = (client: WebClient, url: URL) => client.fetch(url.pathname + url.search);
  const account = async (client: WebClient) => (await client.fetch('/account.json')).json();

  it('says the provider is not answering when it is down, and starts nothing', async () => {
    const client = new WebClient(studio.url);
    const response = await client.fetch('/auth/oidc/start');
    expect(response.status).toBe(502);
    expect(await response.text()).toMatch(/Test ID is not answering \(ECONNREFUSED\)/);
    expect(client.hasSession()).toBe(false);

    // Discovery is tried again once the provider is up.
    provider = await startTestProvider({ port: issuerPort, client: { ...TEST_CLIENT, redirectUri: callbackUrl }, accounts: ACCOUNTS });
  });

  it('shows the provider\'s button on the sign-in and sign-up pages', async () => {
    const client = new WebClient(studio.url);
    expect(await (await client.fetch('/signin')).text()).toContain('Sign in with Test ID');
    expect(await (await client.fetch('/signup')).text()).toContain('Sign up with Test ID');
  });

  it('makes an account with the verified email and the free credits, in a new session (not one planted before)', async () => {
    const client = new WebClient(studio.url);
    client.setCookie('lilypad_session', 'planted-by-someone-else');
    const start = new URL(await startAt(client));
    expect(start.searchParams.get('code_challenge_method')).toBe('S256');
    expect(start.searchParams.get('redirect_uri')).toBe(callbackUrl);
    expect(start.searchParams.get('state')).toBeTruthy();
    expect(start.searchParams.get('nonce')).toBeTruthy();
    const back = await visitProvider(start.href, { username: 'alice', password: 'alice-pw', decision: 'allow' }, callbackUrl);
    const landed = await land(client, back);
    expect(landed.status).toBe(303);
    expect(landed.headers.get('location')).toBe('/');
    expect(client.cookie('lilypad_session')).not.toBe('planted-by-someone-else');
    expect(await account(client)).toMatchObject({ email: 'alice@example.com', credits: 100 });
    const planted = new WebClient(studio.url);
    planted.setCookie('lilypad_session', 'planted-by-someone-else');
    expect((await planted.fetch('/account.json')).status).toBe(401);

    // The provider's URL, replayed (a second visit to the same callback), signs nobody in.
    const replay = new WebClient(studio.url);
    await replay.csrfOf('/signin');
    const again = await land(replay, back);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('already used or is not one the studio started');
    expect(replay.hasSession()).toBe(false);
  });

  it('signs the same person in to the same account the next time, without new credits', async () => {
    const client = new WebClient(studio.url);
    expect((await land(client, await codeFor(client, 'alice'))).status).toBe(303);
    expect(await account(client)).toMatchObject({ email: 'alice@example.com', credits: 100 });
  });

  it('refuses a password for an account that has none, and says how to sign in', async () => {
    const client = new WebClient(studio.url);
    const response = await client.post('/signin', { csrf: await client.csrfOf('/signin'), email: 'alice@example.com', password: '' });
    expect(response.status).toBe(401);
    expect(await response.text()).toContain('The account alice@example.com has no password: sign in with your passkey or Test ID.');
    expect(client.hasSession()).toBe(false);
  });

  it('links a password account when the provider verified its email', async () => {
    const bob = new WebClient(studio.url);
    expect((await bob.signUp('bob@example.com', 'bob password 123')).status).toBe(303);
    const client = new WebClient(studio.url);
    expect((await land(client, await codeFor(client, 'bob'))).status).toBe(303);
    expect(await account(client)).toMatchObject({ email: 'bob@example.com', credits: 100 });
    // The password still works too, and it also starts a new session rather than keep one planted before.
    const again = new WebClient(studio.url);
    again.setCookie('lilypad_session', 'planted-by-someone-else');
    expect((await again.post('/signin', { csrf: await again.csrfOf('/signin'), email: 'bob@example.com', password: 'bob password 123' })).status).toBe(303);
    expect(again.cookie('lilypad_session')).not.toBe('planted-by-someone-else');
    expect(await account(again)).toMatchObject({ email: 'bob@example.com' });
  });

  it('refuses an email the provider did not verify, and leaves the account of that email alone', async () => {
    const carol = new WebClient(studio.url);
    await carol.signUp('carol@example.com', 'carol password 123');
    const client = new WebClient(studio.url);
    const landed = await land(client, await codeFor(client, 'mallory'));
    expect(landed.status).toBe(409);
    expect(await landed.text()).toContain('Test ID has not verified that carol@example.com is yours');
    expect(client.hasSession()).toBe(false);
    // Not linked either: the next try is refused the same way.
    const retry = new WebClient(studio.url);
    expect((await land(retry, await codeFor(retry, 'mallory'))).status).toBe(409);
  });

  it('says so when the provider shares no email', async () => {
    const client = new WebClient(studio.url);
    const landed = await land(client, await codeFor(client, 'nomail'));
    expect(landed.status).toBe(409);
    expect(await landed.text()).toContain('Test ID did not share your email address');
  });

  it('ends a denied consent on a page that says so', async () => {
    const client = new WebClient(studio.url);
    const back = await codeFor(client, 'alice', 'deny');
    expect(back.searchParams.get('error')).toBe('access_denied');
    const landed = await land(client, back);
    expect(landed.status).toBe(403);
    expect(await landed.text()).toContain('Test ID did not sign you in: the sign-in was cancelled or not allowed there.');
    expect(client.hasSession()).toBe(false);
  });

  it('refuses a wrong or missing state', async () => {
    const client = new WebClient(studio.url);
    await startAt(client);
    for (const query of ['?code=abc&state=not-the-state', '?code=abc']) {
      const landed = await client.fetch('/auth/oidc/callback' + query);
      expect(landed.status).toBe(400);
      expect(await landed.text()).toMatch(/already used or is not one the studio started|carried no sign-in state/);
    }
    expect(client.hasSession()).toBe(false);
  });

  it('refuses a code replayed into a new sign-in', async () => {
    const first = new WebClient(studio.url);
    const back = await codeFor(first, 'alice');
    expect((await land(first, back)).status).toBe(303);
    // The same code with a fresh state of this browser: the provider refuses the used code (and PKCE differs).
    const client = new WebClient(studio.url);
    const state = new URL(await startAt(client)).searchParams.get('state')!;
    const landed = await client.fetch(`/auth/oidc/callback?code=${encodeURIComponent(back.searchParams.get('code')!)}&state=${encodeURIComponent(state)}&iss=${encodeURIComponent(back.searchParams.get('iss') ?? '')}`);
    expect(landed.status).toBe(400);
    expect(await landed.text()).toContain('Test ID refused the sign-in (invalid_grant');
    expect(client.hasSession()).toBe(false);
  });

  it('refuses a sign-in finished in another browser than the one that started it (login CSRF)', async () => {
    // Mallory starts a sign-in to her own account and gets Alice's browser to open the return URL.
    const mallory = new WebClient(studio.url);
    const back = await codeFor(mallory, 'bob');
    const victim = new WebClient(studio.url);
    await victim.csrfOf('/signin');
    const landed = await land(victim, back);
    expect(landed.status).toBe(400);
    expect(await landed.text()).toContain('was started in another browser');
    expect(victim.hasSession()).toBe(false);
  });

  it('refuses a sign-in that took too long', async () => {
    const client = new WebClient(studio.url);
    const back = await codeFor(client, 'alice');
    // Ten minutes pass: the flow's expiry moves to the past (the studio's own database, open beside it).
    const db = new Database(path.join(studio.dataDir, 'studio.db'));
    db.prepare("UPDATE auth_challenges SET expires_at = 0 WHERE kind = 'oidc'").run();
    db.close();
    const landed = await land(client, back);
    expect(landed.status).toBe(400);
    expect(await landed.text()).toContain('took too long');
    expect(client.hasSession()).toBe(false);
  });

  it('says the provider is not answering when it goes down during a sign-in', async () => {
    const client = new WebClient(studio.url);
    const back = await codeFor(client, 'alice');
    await provider!.stop();
    provider = undefined;
    const landed = await land(client, back);
    expect(landed.status).toBe(502);
    expect(await landed.text()).toContain('Test ID is not answering');
    expect(client.hasSession()).toBe(false);
  });
});
